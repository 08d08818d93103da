/* publish.h - what each domain must publish in DNS: `mta-stsd dns` */
#ifndef MTA_STSD_PUBLISH_H
#define MTA_STSD_PUBLISH_H

/* `mta-stsd dns [-c FILE] [--json] [domain...]`: argv[0] is "dns".
 * Returns the exit status. */
int publish_main(int argc, char **argv);

#endif

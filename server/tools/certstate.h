/* certstate.h - each domain's certificate state: `mta-stsd certs` */
#ifndef MTA_STSD_CERTSTATE_H
#define MTA_STSD_CERTSTATE_H

/* `mta-stsd certs [-c file] [--json] [domain...]`: for every domain (or
 * those named) the certificate served (source acme, file or none, and its
 * expiry), from a load as the server does it, and the ACME manager's
 * state (next renewal, failures, last error) from <storage>/state. Returns
 * the exit status: 0, 1 when a domain has no certificate or failed to
 * load, 2 on a usage error. */
int certstate_main(int argc, char **argv);

#endif

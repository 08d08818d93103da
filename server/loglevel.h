/* loglevel.h - the error log's levels, shared by the configuration and the log */
#ifndef MTA_STSD_LOGLEVEL_H
#define MTA_STSD_LOGLEVEL_H

/* How much the error log says, least first (log_level = in [server]). */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

#endif

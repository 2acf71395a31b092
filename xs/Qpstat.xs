/*
 * Qpstat.xs - the Perl binding of the qpstat core (csrc/qpstat.h).
 *
 * Memory ownership: the core owns nothing of Perl's and Perl owns nothing of
 * the core's; every string crossing here is copied.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include "qpstat.h"

MODULE = Qpstat    PACKAGE = Qpstat

PROTOTYPES: DISABLE

const char *
library_version()
    CODE:
        RETVAL = qps_version();
    OUTPUT:
        RETVAL

// Debian's libpq-dev installs the header under /usr/include/postgresql, which is not on the
// default include path; libpq-fe.h finds its own postgres_ext.h next to itself.
#include <postgresql/libpq-fe.h>

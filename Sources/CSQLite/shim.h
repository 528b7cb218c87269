// SQLite 3 (Debian: libsqlite3-dev), the embedded store of the on-disk keyed state backend.
#include <sqlite3.h>

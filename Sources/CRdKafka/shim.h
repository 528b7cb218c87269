// The C shim over librdkafka (>= 2.1.1), found through pkg-config `rdkafka`.
#include <librdkafka/rdkafka.h>

// The C shim over librdkafka (>= 2.1.1), found through pkg-config `rdkafka`.
#include <librdkafka/rdkafka.h>
// librdkafka's own mock cluster, for tests of faults a real broker cannot be made to produce.
#include <librdkafka/rdkafka_mock.h>

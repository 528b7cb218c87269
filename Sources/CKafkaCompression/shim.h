// The compression codecs Kafka record batches use, from Debian's -dev packages.
#include <zlib.h>
#include <lz4frame.h>
#include <zstd.h>
#include <snappy-c.h>

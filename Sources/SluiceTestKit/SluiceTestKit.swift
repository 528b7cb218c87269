/// SluiceTestKit: what only tests and test tools need — where the package's built executables are,
/// and the seeded fuzzer of the wire decoders (`sluice-fuzz-wire`) — on top of the embedded broker and
/// child processes of `SluiceEmbeddedBroker`, which it re-exports so that a test needs one import.
/// The `sluice` CLI and the bench must not depend on it.
@_exported import SluiceEmbeddedBroker

/// SluiceTestKit: what only tests need — where the package's built executables are — on top of the
/// embedded broker and child processes of `SluiceEmbeddedBroker`, which it re-exports so that a test
/// needs one import. Executables (the `sluice` CLI, the bench) must not depend on it.
@_exported import SluiceEmbeddedBroker

/// SluiceClickCount: Flink's operations playground on Sluice — the click event and its playground
/// timestamp format, the generator's exact sequence, the click-count job's dataflow, and the verdict
/// that checks its output exactly (every window of every page once, with count 1000).
///
/// Owns: the playground's data and job. Depends on the runtime and the Kafka connector; must not
/// depend on SluiceOps, the test kit or the embedded broker (executables and tests bring those).

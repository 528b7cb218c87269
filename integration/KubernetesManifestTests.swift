import Foundation
import SluiceTestKit
import Testing

/// deploy/kubernetes is for users with a cluster; none runs here, so every manifest is checked
/// against the Kubernetes API schemas with kubernetes-validate (strict: unknown fields are errors),
/// which needs no cluster. The second test shows the validator does reject a broken manifest.
@Suite struct KubernetesManifestTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
    static let manifests = root + "/deploy/kubernetes"

    func validate(_ files: [String]) throws -> (status: Int32, output: String) {
        try ProjectTool.run("k8s-venv/bin/kubernetes-validate", ["--strict"] + files)
    }

    @Test func everyManifestIsValidAndTheWorkersHaveWhatTheyNeed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.manifests)
            .filter { $0.hasSuffix(".yaml") }.sorted().map { Self.manifests + "/" + $0 }
        #expect(files.count >= 4, "manifests: \(files)")
        let (status, output) = try validate(files)
        #expect(status == 0, "kubernetes-validate failed:\n\(output)")
        #expect(!output.contains("ERROR"), "\(output)")
        for file in files { #expect(output.contains("\((file as NSString).lastPathComponent) passed"), "not validated: \(file)\n\(output)") }

        let all = try files.map { try String(contentsOfFile: $0, encoding: .utf8) }.joined(separator: "\n---\n")
        for kind in ["StatefulSet", "Service", "ConfigMap", "Secret"] { #expect(all.contains("kind: \(kind)"), "no \(kind)") }
        #expect(all.contains("clusterIP: None"), "the Service must be headless")
        #expect(all.contains("volumeClaimTemplates:"), "each worker needs its own volume for checkpoints")
        #expect(all.contains("readinessProbe:") && all.contains("path: /status"), "readiness comes from /status")
        #expect(all.contains("requests:") && all.contains("cpu:"), "resource requests")
        #expect(all.contains("--workers") && !all.contains("--worker-index"), "the index comes from the pod's ordinal")
        #expect(all.contains("--client-config") && all.contains("secretName:"), "the client configuration comes from the Secret")
        #expect(all.contains("security.protocol=SASL_SSL"), "the Secret shows the SASL/TLS settings")
    }

    @Test func theValidatorRejectsABrokenManifest() throws {
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-statefulset-\(UUID().uuidString).yaml")
        try """
            apiVersion: apps/v1
            kind: StatefulSet
            metadata:
              name: broken
            spec:
              replicas: three
              template:
                spec:
                  containers:
                    - name: job
                      imagee: sluice:latest
            """.write(to: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: broken) }
        let (status, output) = try validate([broken.path])
        #expect(status != 0, "a broken manifest passed: \(output)")
        #expect(output.contains("replicas"), "\(output)")
    }
}

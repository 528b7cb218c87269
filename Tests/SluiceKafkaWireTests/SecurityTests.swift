import Testing
@testable import SluiceKafkaWire

@Suite struct ScramTests {
    /// RFC 7677's SCRAM-SHA-256 example, message by message.
    @Test func rfc7677Example() throws {
        let client = ScramClient(hash: .sha256, username: "user", password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(client.clientFirstMessage == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        let final = try client.clientFinal(serverFirst: serverFirst)
        #expect(final.message == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        try client.verify(serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", expected: final.expectedServerSignature)
        #expect(throws: ScramFailure.self) {
            try client.verify(serverFinal: "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", expected: final.expectedServerSignature)
        }
        #expect(throws: ScramFailure.self) { try client.verify(serverFinal: "e=invalid-proof", expected: final.expectedServerSignature) }
    }

    @Test func refusesForeignNoncesAndFewIterations() {
        let client = ScramClient(hash: .sha512, username: "a=b,c", password: "p", clientNonce: "abc")
        #expect(client.clientFirstBare == "n=a=3Db=2Cc,r=abc")
        #expect(throws: ScramFailure.self) { try client.clientFinal(serverFirst: "r=xyz123,s=AAAA,i=4096") }
        #expect(throws: ScramFailure.self) { try client.clientFinal(serverFirst: "r=abc123,s=AAAA,i=1024") }
        #expect(throws: ScramFailure.self) { try client.clientFinal(serverFirst: "r=abc123,i=4096") }
    }
}

@Suite struct WireSecurityConfigurationTests {
    @Test func plaintextByDefaultAndSaslReadFromLibrdkafkaKeys() throws {
        #expect(try KafkaWireSecurity(properties: [:]).securityProtocol == .plaintext)
        let sasl = try KafkaWireSecurity(properties: [
            "security.protocol": "sasl_plaintext", "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "u", "sasl.password": "p", "linger.ms": "5",
        ])
        #expect(sasl.securityProtocol == .saslPlaintext)
        #expect(sasl.sasl?.mechanism == .scramSha512)
        #expect(sasl.tls == nil)
    }

    @Test func plainSendsTheNameAndPasswordSeparatedByNul() {
        let conversation = SaslConversation(
            credentials: .init(mechanism: .plain, username: "u", password: "pw"), host: "h", port: 1)
        #expect(conversation.firstMessage == [0, UInt8(ascii: "u"), 0, UInt8(ascii: "p"), UInt8(ascii: "w")])
    }

    @Test func refusedMechanismsNameThemselves() {
        for mechanism in ["OAUTHBEARER", "GSSAPI", "SCRAM-SHA-1"] {
            #expect {
                try KafkaWireSecurity(properties: ["security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
                                                   "sasl.username": "u", "sasl.password": "p"])
            } throws: { "\($0)".contains("SASL mechanism '\(mechanism)' is not supported") }
        }
    }
}

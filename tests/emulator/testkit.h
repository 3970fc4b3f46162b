// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
// Throwaway credentials and TLS material for tests, made with OpenSSL at test
// time (never committed): an RSA key pair for service-account JWTs, and a CA
// with a server certificate for 127.0.0.1.
#pragma once

#include <string>

namespace gcsemu {

struct TestKeyPair {
  std::string private_pem;  // PKCS#8 "BEGIN PRIVATE KEY"
  std::string public_pem;   // "BEGIN PUBLIC KEY"
};
TestKeyPair make_rsa_key_pair();

struct TestTls {
  std::string dir;            // a new temporary folder holding the files
  std::string ca_file;        // the CA that signed the server certificate
  std::string other_ca_file;  // an unrelated CA: verifying with it must fail
  std::string cert_file;      // server certificate, IP SAN 127.0.0.1
  std::string key_file;       // its private key
};
// Writes the files into a new temporary folder; false if OpenSSL failed.
bool make_test_tls(TestTls *out);

}  // namespace gcsemu

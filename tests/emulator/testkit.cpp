// SPDX-License-Identifier: LGPL-2.1-or-later
// Copyright (C) 2026 The gcsframesink authors
#include "testkit.h"

#include <glib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace gcsemu {

namespace {

std::string bio_text(BIO *b)
{
  char *d = nullptr;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, size_t(n));
  BIO_free(b);
  return s;
}

void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
  X509_EXTENSION *e = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

// A CA certificate (no issuer) or a server certificate for 127.0.0.1.
X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
  static long serial = 1;
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char *>(cn), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  add_ext(x, &ctx, NID_subject_key_identifier, "hash");
  if (!issuer) {
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
    add_ext(x, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  }
  X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
  return x;
}

std::string cert_pem(X509 *x)
{
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  return bio_text(b);
}

std::string private_pem(EVP_PKEY *k)
{
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(b);
}

bool write_text(const std::string &path, const std::string &text)
{
  return g_file_set_contents(path.c_str(), text.data(), gssize(text.size()), nullptr);
}

}  // namespace

TestKeyPair make_rsa_key_pair()
{
  TestKeyPair kp;
  EVP_PKEY *k = EVP_RSA_gen(2048);
  if (!k)
    return kp;
  kp.private_pem = private_pem(k);
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  kp.public_pem = bio_text(b);
  EVP_PKEY_free(k);
  return kp;
}

bool make_test_tls(TestTls *out)
{
  gchar *tmp = g_dir_make_tmp("gcsemu-tls-XXXXXX", nullptr);
  if (!tmp)
    return false;
  out->dir = tmp;
  g_free(tmp);
  out->ca_file = out->dir + "/ca.pem";
  out->other_ca_file = out->dir + "/other.pem";
  out->cert_file = out->dir + "/server.pem";
  out->key_file = out->dir + "/server.key";
  EVP_PKEY *ca_key = EVP_EC_gen("P-256");
  EVP_PKEY *other_key = EVP_EC_gen("P-256");
  EVP_PKEY *srv_key = EVP_EC_gen("P-256");
  bool ok = ca_key && other_key && srv_key;
  if (ok) {
    X509 *ca = make_cert(ca_key, "gcs emulator test CA", nullptr, nullptr);
    X509 *other = make_cert(other_key, "some other CA", nullptr, nullptr);
    X509 *srv = make_cert(srv_key, "127.0.0.1", ca, ca_key);
    ok = write_text(out->ca_file, cert_pem(ca)) && write_text(out->other_ca_file, cert_pem(other)) &&
         write_text(out->cert_file, cert_pem(srv)) && write_text(out->key_file, private_pem(srv_key));
    for (X509 *x : {ca, other, srv})
      X509_free(x);
  }
  for (EVP_PKEY *k : {ca_key, other_key, srv_key})
    EVP_PKEY_free(k);
  return ok;
}

}  // namespace gcsemu

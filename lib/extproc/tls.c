/* Serving credentials: PEM files from --cert-path, or a self-signed
 * certificate generated at start-up (as upstream does when no cert is given).
 * Upstream uses RSA-4096; we use ECDSA P-256, which takes under a millisecond
 * to generate instead of seconds and is accepted by every gateway that dials
 * the EPP without verification. Subject O="Inference Ext", valid 10 years. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "extproc_int.h"

static char *bio_to_str(BIO *b) {
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? sy_strndup(data, (size_t)n) : NULL;
}

int sy_extproc__self_signed(char **cert_pem, char **key_pem) {
  int rc = SY_EINTERNAL;
  EVP_PKEY *pkey = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
  if (!pkey || !x || !cb || !kb) goto out;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(sy_rand_u64() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
  X509_set_pubkey(x, pkey);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Inference Ext", -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  if (ext) {
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (!X509_sign(x, pkey, EVP_sha256())) goto out;
  if (!PEM_write_bio_X509(cb, x) || !PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL)) goto out;
  *cert_pem = bio_to_str(cb);
  *key_pem = bio_to_str(kb);
  rc = (*cert_pem && *key_pem) ? 0 : -ENOMEM;
  if (rc) {
    SY_FREE(cert_pem);
    SY_FREE(key_pem);
  }
out:
  BIO_free(cb);
  BIO_free(kb);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return rc;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  sy_buf_t b;
  sy_buf_init(&b, 1 << 20);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
    if (sy_buf_append(&b, tmp, n) != 0) {
      sy_buf_cleanup(&b);
      fclose(f);
      return NULL;
    }
  }
  fclose(f);
  return b.data;
}

int sy_extproc__load_cert(const char *dir, char **cert_pem, char **key_pem, char *errbuf, size_t errlen) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/tls.crt", dir);
  *cert_pem = read_file(path);
  if (!*cert_pem) {
    snprintf(errbuf, errlen, "cannot read %s", path);
    return SY_EINVAL;
  }
  snprintf(path, sizeof(path), "%s/tls.key", dir);
  *key_pem = read_file(path);
  if (!*key_pem) {
    SY_FREE(cert_pem);
    snprintf(errbuf, errlen, "cannot read %s", path);
    return SY_EINVAL;
  }
  return 0;
}

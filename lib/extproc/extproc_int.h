/* Declarations shared between the files of the extproc module only. */
#ifndef SY_EXTPROC_INT_H
#define SY_EXTPROC_INT_H

#include "extproc.h"

/* Generates a self-signed certificate and key (PEM, sy_free both). */
int sy_extproc__self_signed(char **cert_pem, char **key_pem);
/* Reads <dir>/tls.crt and <dir>/tls.key. */
int sy_extproc__load_cert(const char *dir, char **cert_pem, char **key_pem, char *errbuf, size_t errlen);

#endif

/* cmd_dkim.c: `postern dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--dir DIR]`:
 * creates a DKIM signing key (RSA-2048 or Ed25519, PEM, mode 0600, never overwriting),
 * prints the DNS TXT record to publish (lib/dkim.h dk_public_record) and the line for
 * $dkim_signing_maps ("DOMAIN SELECTOR:/path/to/key"). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "cmd.h"
#include "dkim.h"
#include "str.h"

int cmd_dkim(int argc, char **argv);

static int label_ok(const char *s, int dots)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && !(dots && *s == '.'))
            return 0;
    return 1;
}

static int usage(void)
{
    cmd_error("usage: postern dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--dir DIR]");
    return CMD_ERROR;
}

int cmd_dkim(int argc, char **argv)
{
    const char *type = "rsa", *dir = ".", *domain, *selector, *err = NULL;
    EVP_PKEY *pkey;
    BIO *mem;
    char *pub = NULL, path[4096];
    long publen;
    str rec;
    FILE *f;
    int fd;

    if (argc < 4 || strcmp(argv[1], "keygen") != 0)
        return usage();
    domain = argv[2];
    selector = argv[3];
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--type") == 0 && i + 1 < argc)
            type = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else
            return usage();
    }
    if (!label_ok(domain, 1) || !label_ok(selector, 1) || strchr(domain, '.') == NULL) {
        cmd_error("bad domain or selector");
        return CMD_ERROR;
    }
    if (strcmp(type, "rsa") == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (strcmp(type, "ed25519") == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else
        return usage();
    if (pkey == NULL) {
        cmd_error("key generation failed");
        return CMD_FAIL;
    }
    if (snprintf(path, sizeof(path), "%s/%s.%s.key", dir, domain, selector) >= (int)sizeof(path)) {
        EVP_PKEY_free(pkey);
        cmd_error("path too long");
        return CMD_ERROR;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        cmd_error("cannot create %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        EVP_PKEY_free(pkey);
        return CMD_FAIL;
    }
    if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0
        || fsync(fileno(f)) != 0) {
        cmd_error("cannot write %s", path);
        fclose(f);
        unlink(path);
        EVP_PKEY_free(pkey);
        return CMD_FAIL;
    }
    fclose(f);
    mem = BIO_new(BIO_s_mem());
    str_init(&rec);
    if (mem == NULL || PEM_write_bio_PUBKEY(mem, pkey) != 1
        || (publen = BIO_get_mem_data(mem, &pub)) <= 0) {
        cmd_error("cannot encode the public key");
        BIO_free(mem);
        EVP_PKEY_free(pkey);
        return CMD_FAIL;
    }
    {
        char *copy = strndup(pub, (size_t)publen);
        int rc = copy ? dk_public_record(copy, &rec, &err) : -1;
        free(copy);
        if (rc < 0) {
            cmd_error("cannot make the DNS record: %s", err ? err : "out of memory");
            BIO_free(mem);
            EVP_PKEY_free(pkey);
            str_free(&rec);
            return CMD_FAIL;
        }
    }
    printf("# private key: %s\n", path);
    printf("# dkim_signing_maps entry:\n%s %s:%s\n", domain, selector, path);
    printf("# DNS record to publish:\n%s._domainkey.%s. IN TXT (", selector, domain);
    for (size_t i = 0; i < rec.len; i += 250)
        printf(" \"%.*s\"", (int)(rec.len - i < 250 ? rec.len - i : 250), rec.data + i);
    printf(" )\n");
    str_free(&rec);
    BIO_free(mem);
    EVP_PKEY_free(pkey);
    return CMD_OK;
}

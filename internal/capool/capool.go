// Package capool loads the PEM file of KAFKA_TLS_CA_FILE: config validates
// it and consumer uses it, through this one function.
package capool

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/mimc-bridge/mimc-bridge/internal/smallfile"
)

// MaxBytes bounds the file: a bundle of a few hundred certificates (a
// system's whole trust store is about 200 KiB) fits, a wrong path such as a
// device or a log file cannot exhaust memory.
const MaxBytes = 1 << 20

// ErrNoCertificate is the error of Load for a file without a PEM certificate.
var ErrNoCertificate = errors.New("holds no PEM certificate")

// Load reads the PEM file at path into a pool. Its errors name the path and
// say what is wrong: not readable (*os.PathError), too large
// (smallfile.ErrTooLarge) or without a certificate (ErrNoCertificate).
func Load(path string) (*x509.CertPool, error) {
	b, err := smallfile.Read(path, MaxBytes)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%q %w", path, ErrNoCertificate)
	}
	return pool, nil
}

"""A throw-away certificate authority, for the API-server stand-in over TLS.

``make(directory)`` writes a CA, a server certificate for 127.0.0.1 and a client
certificate (the agent's identity, as a kubeconfig's client-certificate) signed by
it, as PEM files, and returns their paths.
"""

import dataclasses
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Certificates:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: str, key: ec.EllipticCurvePrivateKey) -> None:
    with open(path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip


def _write_cert(path: str, cert: x509.Certificate) -> None:
    with open(path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))


def _issue(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey, usage: x509.ObjectIdentifier | None,
) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if usage is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
    return builder.sign(issuer_key, hashes.SHA256())


def make(directory: str) -> Certificates:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("test-kubernetes-ca", ca_key, _name("test-kubernetes-ca"), ca_key, None)
    names = ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")
    paths = Certificates(*(os.path.join(directory, name) for name in names))
    _write_cert(paths.ca, ca)
    for subject, usage, cert_path, key_path in (
        ("kube-apiserver", ExtendedKeyUsageOID.SERVER_AUTH, paths.server_cert, paths.server_key),
        ("cyborg-agent", ExtendedKeyUsageOID.CLIENT_AUTH, paths.client_cert, paths.client_key),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        _write_cert(cert_path, _issue(subject, key, ca.subject, ca_key, usage))
        _write_key(key_path, key)
    return paths

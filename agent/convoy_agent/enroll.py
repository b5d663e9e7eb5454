"""Enrollment: from a join token and a pinned CA fingerprint to a node certificate in the state directory.

Trust starts with the fingerprint in the join command, sha256 of the service CA's DER. The agent needs the
CA certificate itself to verify the scheduler, and gets it without trusting the network: the enrollment
port sends the CA along with its server certificate (TLS certificate chain), the agent reads that chain
from a TLS 1.2 handshake that sends nothing else, and keeps the one certificate whose sha256 equals the
pinned value. Only then does a real TLS connection, verified against that CA, carry the token. An operator
may give the CA file instead (`--ca-file`); it must match the fingerprint all the same.
"""

import hashlib
import os
import re
import socket
import ssl
import struct
import time

import grpc
from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from convoy_agent import config as configuration
from convoy_agent.files import write_atomically
from convoy_agent.proto import agent_pb2, agent_pb2_grpc

ENROLL_TIMEOUT = 60.0
PROBE_TIMEOUT = 15.0
# TLS record and handshake message types read while probing.
_HANDSHAKE = 22
_CHANGE_CIPHER_SPEC = 20
_ALERT = 21
_CERTIFICATE = 11
# ssl.OP_NO_TLSv1_3's value: early Python 3.6 releases lack the constant, not the OpenSSL option.
OP_NO_TLSV1_3 = 0x20000000
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


class EnrollError(Exception):
    """Enrollment cannot go on; the message says why and what to check."""


def parse_fingerprint(text):
    # type: (str) -> str
    """'sha256:AB:cd…' or 'sha256:abcd…' → 64 lowercase hex digits."""
    value = text.strip().lower()
    if value.startswith("sha256:"):
        value = value[len("sha256:") :]
    value = value.replace(":", "")
    if len(value) != 64 or any(char not in "0123456789abcdef" for char in value):
        raise EnrollError("--ca-fingerprint must be sha256: followed by 64 hex digits, not %r" % text)
    return value


def certificate_fingerprint(pem):
    # type: (bytes) -> str
    certificate = x509.load_pem_x509_certificate(pem, default_backend())
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def pinned_ca_from_file(path, fingerprint):
    # type: (str, str) -> bytes
    """The PEM of the one certificate in the file whose sha256 is `fingerprint` (the file may hold a
    bundle); it must be a CA certificate."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise EnrollError("cannot read %s: %s" % (path, error)) from None
    seen = []
    for block in _PEM_BLOCK.findall(data):
        try:
            certificate = x509.load_pem_x509_certificate(block, default_backend())
        except ValueError:
            continue
        der = certificate.public_bytes(serialization.Encoding.DER)
        actual = hashlib.sha256(der).hexdigest()
        if actual == fingerprint:
            _require_ca(certificate, path)
            return ssl.DER_cert_to_PEM_cert(der).encode("ascii")
        seen.append(actual)
    if not seen:
        raise EnrollError("%s holds no PEM certificate" % path)
    raise EnrollError(
        "%s has no certificate with the pinned fingerprint (it has sha256:%s)"
        % (path, ", sha256:".join(seen))
    )


def _require_ca(certificate, where):
    # type: (x509.Certificate, str) -> None
    """The pinned certificate becomes the trust root: a leaf with that hash must not."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise EnrollError(
            "the certificate with the pinned fingerprint (from %s) is not a CA certificate "
            "(BasicConstraints ca=True): pin the Convoy CA, not a server certificate" % where
        )


def fetch_pinned_ca(address, fingerprint, timeout=PROBE_TIMEOUT):
    # type: (str, str, float) -> bytes
    """The CA certificate whose sha256 is `fingerprint`, read from the server's TLS certificate chain.

    The probe verifies nothing and sends nothing but a ClientHello: authenticity comes from the hash alone.
    TLS 1.3 encrypts certificates, so the probe offers TLS 1.2 only.
    """
    host, port = configuration.split_address(address)
    try:
        chain = _handshake_chain(host, port, timeout)
    except (OSError, ValueError, IndexError, struct.error) as error:
        raise EnrollError(
            "could not read the certificate chain of %s: %s" % (address, _reason(error))
        ) from None
    if chain is None:
        raise EnrollError(
            "could not read the certificate chain of %s (TLS 1.2 refused?): pass the CA with --ca-file"
            % address
        )
    for der in chain:
        if hashlib.sha256(der).hexdigest() == fingerprint:
            try:
                certificate = x509.load_der_x509_certificate(der, default_backend())
            except ValueError:
                raise EnrollError(
                    "%s sent a malformed certificate with the pinned fingerprint" % address
                ) from None
            _require_ca(certificate, address)
            return ssl.DER_cert_to_PEM_cert(der).encode("ascii")
    raise EnrollError(
        "%s did not present the pinned CA sha256:%s: wrong server, wrong fingerprint, or a server that "
        "does not send its CA (pass it with --ca-file)" % (address, fingerprint)
    )


def _reason(error):
    # type: (BaseException) -> str
    if isinstance(error, socket.timeout):
        return "no answer within the time allowed"
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    return "its answer is not a TLS handshake (%s)" % (str(error) or type(error).__name__)


def no_tls13_option(module=ssl):
    # type: (object) -> int
    """The option bit that turns TLS 1.3 off, also where the ssl module does not name it."""
    return int(getattr(module, "OP_NO_TLSv1_3", OP_NO_TLSV1_3))


def _probe_context():
    # type: () -> ssl.SSLContext
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    versions = getattr(ssl, "TLSVersion", None)
    if versions is not None:
        # setattr: the attribute exists from 3.7 on, where the OP_NO_* options are deprecated.
        setattr(context, "maximum_version", versions.TLSv1_2)  # noqa: B010
    else:
        context.options |= no_tls13_option()
    context.set_alpn_protocols(["h2"])
    return context


def _handshake_chain(host, port, timeout):
    # type: (str, int, float) -> Optional[List[bytes]]
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = _probe_context().wrap_bio(incoming, outgoing, server_hostname=None)
    received = bytearray()
    deadline = time.time() + timeout
    connection = None
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
        while time.time() < deadline:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                break
            pending = outgoing.read()
            if pending:
                connection.sendall(pending)
            chain = _certificates(bytes(received))
            if chain is not None:
                return chain
            data = connection.recv(65536)
            if not data:
                break
            received.extend(data)
            incoming.write(data)
        return _certificates(bytes(received))
    except (OSError, socket.timeout):
        if connection is None:
            raise
        return _certificates(bytes(received))
    finally:
        if connection is not None:
            connection.close()


def _certificates(stream):
    # type: (bytes) -> Optional[List[bytes]]
    """The DER certificates of the server's Certificate message, once all of it has arrived."""
    handshake = bytearray()
    offset = 0
    while offset + 5 <= len(stream):
        kind = stream[offset]
        (length,) = struct.unpack("!H", stream[offset + 3 : offset + 5])
        fragment = stream[offset + 5 : offset + 5 + length]
        if len(fragment) < length or kind in (_CHANGE_CIPHER_SPEC, _ALERT):
            break
        if kind == _HANDSHAKE:
            handshake.extend(fragment)
        offset += 5 + length
    position = 0
    while position + 4 <= len(handshake):
        kind = handshake[position]
        length = _uint24(handshake, position + 1)
        body = bytes(handshake[position + 4 : position + 4 + length])
        if len(body) < length:
            return None
        if kind == _CERTIFICATE:
            return _certificate_list(body)
        position += 4 + length
    return None


def _certificate_list(body):
    # type: (bytes) -> List[bytes]
    """The DER certificates of a Certificate message body; [] for anything too short to be one."""
    if len(body) < 3:
        return []
    total = _uint24(body, 0)
    position, end, chain = 3, min(3 + total, len(body)), []
    while position + 3 <= end:
        length = _uint24(body, position)
        if position + 3 + length > end:
            break  # a truncated entry
        chain.append(bytes(body[position + 3 : position + 3 + length]))
        position += 3 + length
    return chain


def _uint24(data, position):
    # type: (bytes, int) -> int
    return (data[position] << 16) | (data[position + 1] << 8) | data[position + 2]


def new_key():
    # type: () -> ec.EllipticCurvePrivateKey
    return ec.generate_private_key(ec.SECP256R1(), default_backend())


def key_pem(key):
    # type: (ec.EllipticCurvePrivateKey) -> bytes
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def csr_pem(key, common_name):
    # type: (ec.EllipticCurvePrivateKey, str) -> bytes
    """A CSR for the key; the name in it is informative only, the server decides the node's identity."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or "convoy-node")])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject)
    return request.sign(key, hashes.SHA256(), default_backend()).public_bytes(serialization.Encoding.PEM)


def check_certificate_for_key(certificate_pem, key):
    # type: (bytes, ec.EllipticCurvePrivateKey) -> x509.Certificate
    """The certificate the server returned must be for the key we hold, or the node could not use it."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem, default_backend())
    except ValueError:
        raise EnrollError("the server returned something that is not a PEM certificate") from None
    if _spki(certificate.public_key()) != _spki(key.public_key()):
        raise EnrollError("the server returned a certificate for another key")
    return certificate


def _spki(public_key):
    # type: (object) -> bytes
    return public_key.public_bytes(  # type: ignore
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def not_after(certificate):
    # type: (x509.Certificate) -> float
    """Expiry as a POSIX timestamp, without the naive-datetime accessor newer cryptography deprecates."""
    aware = getattr(certificate, "not_valid_after_utc", None)
    if aware is not None:
        return aware.timestamp()
    return _naive_utc_timestamp(certificate.not_valid_after)


def not_before(certificate):
    # type: (x509.Certificate) -> float
    aware = getattr(certificate, "not_valid_before_utc", None)
    if aware is not None:
        return aware.timestamp()
    return _naive_utc_timestamp(certificate.not_valid_before)


def _naive_utc_timestamp(value):
    # type: (object) -> float
    import calendar

    return float(calendar.timegm(value.utctimetuple()))  # type: ignore


def enroll(
    server,  # type: str
    token,  # type: str
    fingerprint_text,  # type: str
    state_dir,  # type: str
    config_file=None,  # type: Optional[str]
    sandbox_root="",  # type: str
    ca_file=None,  # type: Optional[str]
    facts=None,  # type: Optional[agent_pb2.Facts]
    overrides=None,  # type: Optional[Dict[str, Any]]
):
    # type: (...) -> configuration.Config
    """Enrolls this node and writes key, certificate, CA and configuration; returns the configuration."""
    fingerprint = parse_fingerprint(fingerprint_text)
    configuration.split_address(server)
    if not token.strip():
        raise EnrollError("--token is empty")
    ca_pem = pinned_ca_from_file(ca_file, fingerprint) if ca_file else fetch_pinned_ca(server, fingerprint)
    overrides = dict(overrides or {})
    if facts is None:
        facts = collect_facts(sandbox_root, overrides)
    key = new_key()
    request = agent_pb2.EnrollRequest(
        token=token.strip(), csr_pem=csr_pem(key, facts.hostname).decode("ascii"), facts=facts
    )
    response = _call_enroll(server, ca_pem, request)
    certificate_pem = response.certificate_pem.encode("ascii")
    check_certificate_for_key(certificate_pem, key)
    if (
        response.ca_certificate_pem
        and certificate_fingerprint(response.ca_certificate_pem.encode()) != fingerprint
    ):
        raise EnrollError("the server's EnrollResponse names a CA other than the pinned one")
    if not response.node_id or not response.agent_address:
        raise EnrollError("the server's EnrollResponse lacks the node id or the agent address")
    configuration.ensure_state_dir(state_dir)
    existing = _existing_config(config_file)
    if existing is not None and existing.node_id and existing.node_id != response.node_id:
        _set_aside(state_dir, existing.node_id)
    values = existing.to_dict() if existing is not None else {}
    values.update(
        {
            "state_dir": os.path.abspath(state_dir),
            "server": server,
            "node_id": response.node_id,
            "agent_address": response.agent_address,
            "ca_fingerprint": "sha256:" + fingerprint,
        }
    )
    if sandbox_root:
        values["sandbox_root"] = os.path.abspath(sandbox_root)
    if overrides:
        values["facts"] = overrides
    result = configuration.Config(values, configuration.config_path(config_file))
    write_atomically(result.key_file, key_pem(key), 0o600)
    write_atomically(result.cert_file, certificate_pem, 0o644)
    write_atomically(result.ca_file, ca_pem, 0o644)
    configuration.save(result)
    return result


def _set_aside(state_dir, old_node_id):
    # type: (str, str) -> None
    """A new node id in the same state directory: the old node's journal (whose unacknowledged results
    the scheduler would refuse from the new node, again and again) and its list of managed software
    move aside as `journal.<old id>` and `managed.json.<old id>`, kept for a human."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", old_node_id)[:100] or "old"
    for name in ("journal", "managed.json"):
        path = os.path.join(state_dir, name)
        if os.path.lexists(path):
            target = "%s.%s" % (path, safe)
            if os.path.lexists(target):
                target = "%s.%d" % (target, int(time.time()))
            os.rename(path, target)


def _existing_config(config_file):
    # type: (Optional[str]) -> Optional[configuration.Config]
    """A re-enrollment keeps what an operator tuned in the file (heartbeat, backoff, sandbox root)."""
    if not os.path.exists(configuration.config_path(config_file)):
        return None
    try:
        return configuration.load(config_file)
    except configuration.ConfigError:
        return None


def _call_enroll(server, ca_pem, request):
    # type: (str, bytes, agent_pb2.EnrollRequest) -> agent_pb2.EnrollResponse
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    options = [("grpc.ssl_target_name_override", configuration.SCHEDULER_NAME)]
    channel = grpc.secure_channel(server, credentials, options=options)
    try:
        return agent_pb2_grpc.AgentServiceStub(channel).Enroll(request, timeout=ENROLL_TIMEOUT)
    except grpc.RpcError as error:
        code, details = _rpc_failure(error)
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise EnrollError(
                "the join token was refused (unknown, used up, expired or revoked): %s" % details
            ) from None
        raise EnrollError(
            "enrollment at %s failed: %s %s" % (server, code.name if code else "?", details)
        ) from None
    finally:
        channel.close()


def _rpc_failure(error):
    # type: (grpc.RpcError) -> Tuple[Optional[grpc.StatusCode], str]
    code = error.code() if hasattr(error, "code") else None  # type: ignore
    details = error.details() if hasattr(error, "details") else str(error)  # type: ignore
    return code, details or ""


def collect_facts(sandbox_root="", overrides=None):
    # type: (str, Optional[Dict[str, Any]]) -> agent_pb2.Facts
    """The node's facts as the Facts message (facts.collect gives them as a dict). `overrides` (the
    configuration's "facts": hostname, ip_addresses) replace what was probed: several demo agents on one
    machine would otherwise all report the same host."""
    from convoy_agent import facts

    values = dict(facts.collect(sandbox_root=sandbox_root or None))
    for name in ("hostname", "ip_addresses"):
        if overrides and overrides.get(name):
            values[name] = overrides[name]
    family = values.pop("package_family", "")
    message = agent_pb2.Facts(package_family=_FAMILIES.get(str(family), agent_pb2.PACKAGE_FAMILY_UNSPECIFIED))
    fields = agent_pb2.Facts.DESCRIPTOR.fields_by_name
    for name, value in values.items():
        if name not in fields or value is None:
            continue
        if isinstance(value, (list, tuple)):
            getattr(message, name).extend(str(item) for item in value)
        else:
            setattr(message, name, str(value))
    return message


_FAMILIES = {"deb": agent_pb2.PACKAGE_FAMILY_DEB, "rpm": agent_pb2.PACKAGE_FAMILY_RPM}

"""HTTP calls to URLs that relying parties chose (back-channel logout), safe from SSRF.

A relying party registers the URL; the provider then calls it from inside the operator's
network, so a URL such as ``https://169.254.169.254/...`` would aim the provider at the cloud's
metadata service or at internal systems. Therefore, at registration and again at every call
(DNS may have changed since the operator approved the client):

- The host name is resolved once and every address it has is checked. Loopback, private
  (RFC 1918), link-local, unique-local, shared (RFC 6598), multicast, reserved and unspecified
  addresses are refused, as are addresses that embed one of them (IPv4-mapped, 6to4, NAT64).
- Except inside the operator's allow-list, ``IDP_OUTBOUND_ALLOW`` (CIDRs, or host names the
  operator vouches for: agencies on an internal network are real) and, in development only,
  loopback (the demo apps).
- Cloud metadata addresses are refused always, even inside an allowed network.
- The connection goes to the address that was checked, never to a second lookup; the host name
  is kept for the Host header, TLS SNI and the certificate check (the system's trust store).
  Short timeouts, no redirects followed, no retries here, and at most MAX_ANSWER_BYTES read.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import urllib3

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# AWS, GCP, Azure, OpenStack (169.254.169.254), AWS ECS tasks, AWS over IPv6, Alibaba Cloud.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
# A relying party's answer to a logout token is read only for its status; this bounds the rest.
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "idp-backchannel/1"


class Refused(Exception):
    """The URL may not be called; the message says why, without the URL itself."""


class Unresolvable(Refused):
    """The URL's host name has no address (now)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most MAX_ANSWER_BYTES


@dataclass(frozen=True)
class Policy:
    """Which addresses outbound calls may reach besides public ones."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    loopback: bool = False

    @classmethod
    def from_config(cls, config: Mapping) -> Policy:
        networks, hosts = parse_allow_list(config["OUTBOUND_ALLOW"])
        return cls(networks, hosts, loopback=config["ENV"] == "development")

    def address_problem(self, host: str, address: IPAddress) -> str | None:
        """Why address (one of host's) may not be called, or None when it may."""
        inner = _embedded(address)
        if address in METADATA_ADDRESSES or inner in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if inner.is_global and not inner.is_multicast and address.is_global:
            return None
        if host in self.hosts or any(inner in net or address in net for net in self.networks):
            return None
        if self.loopback and inner.is_loopback:
            return None
        return "an internal, loopback or reserved address"


def parse_allow_list(entries: Iterable[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    """IDP_OUTBOUND_ALLOW's entries as networks and host names; ValueError names a bad one."""
    networks, hosts = [], set()
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            name = entry.strip().lower().rstrip(".")
            labels = name.split(".")
            if not name or not all(label and label.replace("-", "").isalnum() for label in labels):
                raise ValueError(f"{entry!r} is neither a CIDR nor a host name") from None
            hosts.add(name)
    return tuple(networks), frozenset(hosts)


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64), else address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("not an absolute http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("not a valid port") from None
    return parts.hostname.lower().rstrip("."), port


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolvable("the host name does not resolve") from None
    # An IPv6 scope ("fe80::1%eth0") is dropped: link-local is refused whatever the interface.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in found))


def checked_addresses(url: str, policy: Policy) -> list[IPAddress]:
    """Every address url's host has, once all of them passed policy; else Refused."""
    return _checked(*_target(url), policy)


def _checked(host: str, port: int, policy: Policy) -> list[IPAddress]:
    addresses = _resolve(host, port)
    for address in addresses:
        problem = policy.address_problem(host, address)
        if problem:
            # One internal address among public ones is refused too: it is how DNS rebinding
            # and round-robin tricks get in.
            raise Refused(f"the host resolves to {problem}")
    return addresses


def registration_problem(url: str, policy: Policy) -> str | None:
    """Why url cannot be registered as a URL the provider calls, or None.

    A host name that does not resolve yet is accepted (an agency may register before its DNS
    is live); every call checks again.
    """
    try:
        checked_addresses(url, policy)
    except Unresolvable:
        return None
    except Refused as refusal:
        return str(refusal)
    return None


def post_form(url: str, fields: Mapping[str, str], policy: Policy) -> Answer:
    """POST fields form-encoded to url, at an address that passed policy; Refused or
    urllib3.exceptions.HTTPError when it cannot be done."""
    host, port = _target(url)
    address = _checked(host, port, policy)[0]
    parts = urlsplit(url)
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)
    if parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            str(address),
            port,
            timeout=timeout,
            retries=False,
            server_hostname=host,
            assert_hostname=host,
            ssl_context=ssl.create_default_context(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(str(address), port, timeout=timeout, retries=False)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    headers = {
        "Host": parts.netloc,
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
    }
    with pool:
        response = pool.urlopen(
            "POST",
            path,
            body=urlencode(fields),
            headers=headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
        )
        try:
            return Answer(response.status, response.read(MAX_ANSWER_BYTES))
        finally:
            response.close()

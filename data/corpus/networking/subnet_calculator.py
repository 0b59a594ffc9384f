"""Subnet calculator: split an IPv4 network into equal subnets.

A CIDR prefix such as /24 says how many leading bits of the address identify
the network; the remaining bits number the hosts. Each extra prefix bit halves
the block, so a /24 (256 addresses) splits into two /25s or four /26s.
The first address of each block is the network address and the last is the
broadcast address, leaving two fewer usable host addresses than the block size.
"""

from __future__ import annotations

import ipaddress


def split(network: str, count: int) -> list[ipaddress.IPv4Network]:
    """Split ``network`` into at least ``count`` equal subnets."""
    net = ipaddress.IPv4Network(network, strict=True)
    extra_bits = max(0, (count - 1).bit_length())
    return list(net.subnets(prefixlen_diff=extra_bits))


def usable_hosts(net: ipaddress.IPv4Network) -> int:
    """Host addresses in ``net``, excluding the network and broadcast addresses."""
    if net.prefixlen >= 31:  # point-to-point links (RFC 3021) use every address
        return net.num_addresses
    return net.num_addresses - 2


if __name__ == "__main__":
    for subnet in split("192.168.10.0/24", 4):
        print(subnet, "usable hosts:", usable_hosts(subnet))

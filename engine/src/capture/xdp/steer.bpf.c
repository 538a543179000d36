// SPDX-License-Identifier: Apache-2.0
//
// httpcap's XDP program for the af_xdp engine: every frame goes to the
// AF_XDP socket of the shard that owns its TCP connection.
//
// The shard is `steer_hash % shards`, the same symmetric hash of the
// innermost TCP 4-tuple that capture/steer.rs computes (and that the
// af_packet engine's classic BPF fanout program computes), so both
// directions of a connection land on one shard. The parser follows what
// that program follows: Ethernet with up to two VLAN tags, IPv4 without
// fragments, IPv6 without extension headers, VXLAN (UDP 4789), Geneve
// (UDP 6081) and, when enabled, IP-in-IP; three IP levels at most. Anything else goes to
// shard 0, which hands it to its owner in userspace (steer_misrouted).
//
// An XSK only receives frames of the (interface, queue) it is bound to,
// so the socket map holds one entry per (rx queue, shard):
// xsks[queue * shards + shard].

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// Set by the loader before the program is loaded.
struct config {
	__u32 shards;
	__u32 queues;
	__u32 ipip;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

// max_entries is set by the loader to queues * shards.
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// Frames per socket index, and in the last slot the frames no socket
// took (a queue the loader did not bind). Per CPU, so no atomics.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} frames SEC(".maps");

#define MIX 0x045d9f3bu
#define VXLAN_PORT 4789
#define GENEVE_PORT 6081
#define ETH_P_TEB 0x6558

// The start of a Geneve header.
struct geneve {
	__u8 ver_optlen; // version (2 bits), options length in 4-byte words
	__u8 flags;	 // O (control packet), C
	__be16 proto;
};
#define LEVELS 3

// What the parser found: the folded addresses and ports, or nothing.
struct tuple {
	__u32 addrs; // XOR of the address words, host order
	__u16 ports; // XOR of the two ports, host order
};

// Reads a T at data + off if it lies within the frame.
#define AT(T, data, end, off)                                                  \
	((void *)(data) + (off) + sizeof(T) <= (void *)(end)                   \
		 ? (T *)((void *)(data) + (off))                               \
		 : (T *)0)

// Folds an IP header at `off` into `t` and returns the protocol of what
// follows and its offset, or -1. Addresses XOR in network order: the
// byte swap commutes with XOR, so it is done once at the end.
static __always_inline int ip_header(void *data, void *end, __u32 *off,
				     struct tuple *t)
{
	__u8 *version = AT(__u8, data, end, *off);
	if (!version)
		return -1;
	if ((*version >> 4) == 4) {
		struct iphdr *ip = AT(struct iphdr, data, end, *off);
		if (!ip || ip->ihl < 5)
			return -1;
		if (ip->frag_off & bpf_htons(0x3fff))
			return -1; // fragments: the ports are not there
		t->addrs ^= ip->saddr ^ ip->daddr;
		*off += ip->ihl * 4;
		return ip->protocol;
	}
	if ((*version >> 4) == 6) {
		struct ipv6hdr *ip = AT(struct ipv6hdr, data, end, *off);
		if (!ip)
			return -1;
		for (int i = 0; i < 4; i++)
			t->addrs ^= ip->saddr.in6_u.u6_addr32[i] ^
				    ip->daddr.in6_u.u6_addr32[i];
		*off += sizeof(struct ipv6hdr);
		return ip->nexthdr;
	}
	return -1;
}

// The innermost TCP connection's folded tuple; 0 when there is none.
static __always_inline int parse(void *data, void *end, __u32 ipip,
				 struct tuple *t)
{
	__u32 off = sizeof(struct ethhdr);
	struct ethhdr *eth = AT(struct ethhdr, data, end, 0);
	if (!eth)
		return 0;
	__u16 proto = eth->h_proto;
	// Up to two VLAN tags (802.1Q, 802.1ad).
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) &&
		    proto != bpf_htons(ETH_P_8021AD))
			break;
		__be16 *next = AT(__be16, data, end, off + 2);
		if (!next)
			return 0;
		proto = *next;
		off += 4;
	}
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return 0;
	t->addrs = 0;
	for (int level = 0; level < LEVELS; level++) {
		// Each level starts over: only the innermost header counts.
		struct tuple inner = { 0, 0 };
		int next = ip_header(data, end, &off, &inner);
		if (next == IPPROTO_TCP) {
			__be16 *ports = AT(__be16, data, end, off);
			if (!ports)
				return 0;
			__be16 *dport = AT(__be16, data, end, off + 2);
			if (!dport)
				return 0;
			t->addrs = bpf_ntohl(inner.addrs);
			t->ports = bpf_ntohs(*ports ^ *dport);
			return 1;
		}
		if ((next == IPPROTO_IPIP || next == IPPROTO_IPV6) && ipip)
			continue;
		if (next != IPPROTO_UDP)
			return 0;
		struct udphdr *udp = AT(struct udphdr, data, end, off);
		if (!udp)
			return 0;
		if (udp->dest == bpf_htons(GENEVE_PORT)) {
			// Geneve, version 0, not a control packet: past its
			// options, an Ethernet frame (TEB) or IP.
			struct geneve *g = AT(struct geneve, data, end, off + 8);
			if (!g || (g->ver_optlen & 0xc0) || (g->flags & 0x80))
				return 0;
			__be16 proto = g->proto;
			off += 8 + 8 + (g->ver_optlen & 0x3f) * 4;
			if (proto == bpf_htons(ETH_P_TEB)) {
				__be16 *et = AT(__be16, data, end, off + 12);
				if (!et)
					return 0;
				proto = *et;
				off += sizeof(struct ethhdr);
			}
			if (proto != bpf_htons(ETH_P_IP) &&
			    proto != bpf_htons(ETH_P_IPV6))
				return 0;
			continue;
		}
		// VXLAN with the I flag: inner Ethernet, then IP.
		__u8 *flags = AT(__u8, data, end, off + 8);
		__be16 *inner_proto = AT(__be16, data, end, off + 8 + 8 + 12);
		if (!udp || !flags || !inner_proto)
			return 0;
		if (udp->dest != bpf_htons(VXLAN_PORT) || !(*flags & 0x08))
			return 0;
		if (*inner_proto != bpf_htons(ETH_P_IP) &&
		    *inner_proto != bpf_htons(ETH_P_IPV6))
			return 0;
		off += 8 + 8 + sizeof(struct ethhdr);
	}
	return 0;
}

// steer_hash() in capture/steer.rs.
static __always_inline __u32 steer_hash(const struct tuple *t)
{
	__u32 h = t->addrs ^ t->ports;
	h ^= h >> 16;
	h *= MIX;
	h ^= h >> 16;
	h *= MIX;
	return h ^ (h >> 16);
}

static __always_inline void count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&frames, &slot);
	if (n)
		*n += 1;
}

SEC("xdp")
int httpcap_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || cfg->shards == 0)
		return XDP_PASS;
	struct tuple t = { 0, 0 };
	__u32 shard = parse(data, end, cfg->ipip, &t) ?
			      steer_hash(&t) % cfg->shards :
			      0;
	__u32 slot = ctx->rx_queue_index * cfg->shards + shard;
	if (ctx->rx_queue_index >= cfg->queues ||
	    !bpf_map_lookup_elem(&xsks, &slot)) {
		// No socket for this queue: the frame stays with the stack
		// and is counted as missed.
		count(cfg->queues * cfg->shards);
		return XDP_PASS;
	}
	count(slot);
	return bpf_redirect_map(&xsks, slot, XDP_PASS);
}

// For tests only (BPF_PROG_TEST_RUN): writes the hash the steering
// program computes into the first four bytes of the frame (0 when it
// would fall back to shard 0), so userspace can compare it with
// steer_hash(). Never attached.
SEC("xdp")
int httpcap_hash_probe(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct tuple t = { 0, 0 };
	__u32 h = parse(data, end, cfg ? cfg->ipip : 0, &t) ? steer_hash(&t) : 0;
	__u32 *out = AT(__u32, data, end, 0);
	if (out)
		*out = h;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

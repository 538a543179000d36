// SPDX-License-Identifier: Apache-2.0
//
// httpcap's TLS plaintext source: uprobes on libssl's SSL_read and
// SSL_write (and their _ex forms) copy what the process reads and writes,
// before encryption and after decryption, into the ring buffer of the
// shard that owns the connection.
//
// libssl's SSL structure is opaque and changes between versions, so the
// socket is not read from it: while a thread is inside an SSL call, the
// syscall tracepoints of read/write/send/recv record the descriptor the
// call uses (the first one), and the connection's addresses are read from
// that descriptor's socket with CO-RE (task → files → fdtable → file →
// socket → sock_common). A call served from libssl's buffer makes no
// syscall: its descriptor comes from the SSL object's earlier calls.
//
// The owning shard is `steer_hash % shards`, as in steer.bpf.c and
// capture/steer.rs, of the connection as the packets show it (an
// IPv4-mapped IPv6 socket hashes as IPv4). Each event carries the offset
// of its first byte in its direction, like a TCP sequence number: bytes a
// full ring refused, or past the copy limit of one call, are a hole of
// known length for the shard.

#include <linux/bpf.h>
#include <linux/types.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

// ---- Kernel types: only the fields read. CO-RE finds their offsets in
// the running kernel's BTF (fields in anonymous unions are found too).

struct in6_addr {
	__u32 words[4];
};

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

struct sock_common {
	possible_net_t skc_net;
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
	struct files_struct *files;
} __attribute__((preserve_access_index));

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define MIX 0x045d9f3bu

// ---- What userspace reads (tls/uprobe/event.rs) ----------------------

// Bytes copied per event, and events per SSL call: a call moving more
// leaves the rest as a hole (counted, never silent).
#define CHUNK 16384
#define CHUNKS 8

enum kind { KIND_DATA = 0, KIND_CLOSE = 1 };
enum dir { DIR_SENT = 0, DIR_RECEIVED = 1, DIR_HANDSHAKE = 2 };

// Little-endian, 64 bytes, then `len` bytes of plaintext.
struct event {
	__u64 ts_ns; // bpf_ktime_get_ns (CLOCK_MONOTONIC)
	__u64 offset; // this direction's bytes before the first one here
	__u32 tgid;
	__u32 len;
	__u8 kind;
	__u8 dir; // the process sent or received the bytes
	__u16 family; // 4 or 6
	__u16 local_port; // host order
	__u16 remote_port;
	__u8 local[16]; // network order; IPv4 in the first four bytes
	__u8 remote[16];
};

struct event_buf {
	struct event ev;
	__u8 data[CHUNK];
};

// Counts, per CPU (userspace sums them).
enum count {
	COUNT_EVENTS,
	COUNT_BYTES,
	COUNT_RING_FULL, // events a full ring refused
	COUNT_RING_FULL_BYTES,
	COUNT_BEYOND_CHUNKS, // bytes past CHUNKS * CHUNK in one call
	COUNT_NO_FD, // calls whose descriptor was never seen
	COUNT_NOT_TCP, // descriptor not a TCP/IP socket
	COUNT_CALLS_LOST, // call table full
	COUNT_OTHER_NETNS, // calls on sockets of other network namespaces
	COUNTS
};

// ---- Maps -------------------------------------------------------------

struct config {
	__u32 shards;
	// httpcap's own TLS (Kafka) is not captured: its process id as its
	// own pid namespace (device, inode) sees it, which in a container is
	// not the host's.
	__u32 self_tgid;
	__u32 netns; // only sockets of this network namespace (inode); 0: all
	__u32 pad;
	__u64 pidns_dev;
	__u64 pidns_ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

// A thread inside an SSL call.
struct call {
	__u64 ssl;
	__u64 buf;
	__u64 num; // the buffer's size: no count past it is believed
	__u64 ex_len; // SSL_*_ex: where the byte count goes; else 0
	__s32 fd; // -1 until a syscall shows it
	__u32 dir;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); // pid_tgid
	__type(value, struct call);
} calls SEC(".maps");

struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

// The descriptor of each SSL object seen, for calls without a syscall.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __s32);
} ssl_fds SEC(".maps");

// Bytes each direction of a socket has moved so far; keyed by the
// kernel's socket address, dropped when the descriptor is closed.
struct offsets {
	__u64 dir[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct offsets);
} offsets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_buf);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

// One ring per shard; max_entries is set by the loader to the shard
// count, and the loader puts a ring of TLS_UPROBE_RING_BYTES in each.
struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

static __always_inline void count(__u32 what, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &what);
	if (c)
		*c += n;
}

static __always_inline struct config *cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&config, &zero);
}

// Whether the current task is httpcap itself. A task outside httpcap's
// pid namespace is not (the helper fails for it).
static __always_inline int is_self(struct config *c)
{
	struct bpf_pidns_info ns = {};
	if (bpf_get_ns_current_pid_tgid(c->pidns_dev, c->pidns_ino, &ns,
					sizeof(ns)))
		return 0;
	return ns.tgid == c->self_tgid;
}

// ---- The socket behind a descriptor ---------------------------------

static __always_inline struct sock *sock_of(__s32 fd)
{
	if (fd < 0)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *socket = BPF_CORE_READ(file, private_data);
	if (!socket)
		return 0;
	struct sock *sk = BPF_CORE_READ(socket, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return sk;
}

static __always_inline int v4_mapped(const struct in6_addr *a)
{
	return a->words[0] == 0 && a->words[1] == 0 &&
	       a->words[2] == bpf_htonl(0xffff);
}

// Whether the socket is in the network namespace asked for.
static __always_inline int wanted_netns(struct config *c, struct sock *sk)
{
	if (c->netns == 0 ||
	    BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) == c->netns)
		return 1;
	count(COUNT_OTHER_NETNS, 1);
	return 0;
}

// Fills the event's addresses; returns steer_hash of the connection, or
// -1 when it is not TCP over IP.
static __always_inline __s64 fill_tuple(struct event *ev, struct sock *sk)
{
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__u32 addrs = 0;
	__builtin_memset(ev->local, 0, sizeof(ev->local));
	__builtin_memset(ev->remote, 0, sizeof(ev->remote));
	if (family == AF_INET) {
		__be32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(ev->local, &l, 4);
		__builtin_memcpy(ev->remote, &r, 4);
		ev->family = 4;
		addrs = bpf_ntohl(l ^ r);
	} else if (family == AF_INET6) {
		struct in6_addr l = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
		struct in6_addr r = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
		if (v4_mapped(&l) && v4_mapped(&r)) {
			__builtin_memcpy(ev->local, &l.words[3], 4);
			__builtin_memcpy(ev->remote, &r.words[3], 4);
			ev->family = 4;
			addrs = bpf_ntohl(l.words[3] ^ r.words[3]);
		} else {
			__builtin_memcpy(ev->local, &l, 16);
			__builtin_memcpy(ev->remote, &r, 16);
			ev->family = 6;
			for (int i = 0; i < 4; i++)
				addrs ^= bpf_ntohl(l.words[i] ^ r.words[i]);
		}
	} else {
		return -1;
	}
	// steer_hash() in capture/steer.rs.
	__u32 h = addrs ^ (__u32)(ev->local_port ^ ev->remote_port);
	h ^= h >> 16;
	h *= MIX;
	h ^= h >> 16;
	h *= MIX;
	return h ^ (h >> 16);
}

// ---- SSL calls --------------------------------------------------------

static __always_inline int enter(void *ssl, const void *buf, __u64 num,
				 void *ex_len, __u32 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct config *c = cfg();
	if (!c || c->shards == 0 || is_self(c))
		return 0;
	struct call call = {
		.ssl = (__u64)ssl,
		.buf = (__u64)buf,
		.num = num,
		.ex_len = (__u64)ex_len,
		.fd = -1,
		.dir = dir,
	};
	// A handshake inside another SSL call (a renegotiation) leaves that
	// call's entry alone.
	__u64 flags = dir == DIR_HANDSHAKE ? BPF_NOEXIST : BPF_ANY;
	if (bpf_map_update_elem(&calls, &id, &call, flags) && dir != DIR_HANDSHAKE)
		count(COUNT_CALLS_LOST, 1);
	return 0;
}

// The call returned `ret`: the bytes moved (SSL_read/SSL_write; <= 0:
// none), or 1 with the count stored through ex_len (the _ex forms).
static __always_inline int leave(int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *found = bpf_map_lookup_elem(&calls, &id);
	if (!found)
		return 0;
	struct call call = *found;
	if (call.dir == DIR_HANDSHAKE)
		return 0; // its own return probe ends it
	bpf_map_delete_elem(&calls, &id);
	struct config *c = cfg();
	if (!c || c->shards == 0)
		return 0;
	__u64 total = 0;
	if (call.ex_len) {
		// SSL_read_ex/SSL_write_ex return 1 and store the count.
		if (ret != 1 || bpf_probe_read_user(&total, sizeof(total),
						    (void *)call.ex_len))
			return 0;
	} else if (ret > 0) {
		total = ret;
	}
	if (total == 0)
		return 0;
	if (total > call.num)
		total = call.num;
	struct ssl_key key = { .tgid = id >> 32, .ssl = call.ssl };
	if (call.fd < 0) {
		__s32 *fd = bpf_map_lookup_elem(&ssl_fds, &key);
		if (!fd) {
			count(COUNT_NO_FD, 1);
			return 0;
		}
		call.fd = *fd;
	} else {
		bpf_map_update_elem(&ssl_fds, &key, &call.fd, BPF_ANY);
	}
	struct sock *sk = sock_of(call.fd);
	__u32 zero = 0;
	struct event_buf *b = bpf_map_lookup_elem(&scratch, &zero);
	if (!sk || !b) {
		count(COUNT_NOT_TCP, 1);
		return 0;
	}
	if (!wanted_netns(c, sk))
		return 0;
	__s64 hash = fill_tuple(&b->ev, sk);
	if (hash < 0) {
		count(COUNT_NOT_TCP, 1);
		return 0;
	}
	__u32 ring_index = (__u32)hash % c->shards;
	void *ring = bpf_map_lookup_elem(&rings, &ring_index);
	if (!ring) {
		count(COUNT_CALLS_LOST, 1);
		return 0;
	}
	__u64 sk_key = (__u64)sk;
	struct offsets *off = bpf_map_lookup_elem(&offsets, &sk_key);
	if (!off) {
		struct offsets fresh = {};
		bpf_map_update_elem(&offsets, &sk_key, &fresh, BPF_NOEXIST);
		off = bpf_map_lookup_elem(&offsets, &sk_key);
		if (!off) {
			count(COUNT_CALLS_LOST, 1);
			return 0;
		}
	}
	__u32 d = call.dir & 1;
	__u64 base = off->dir[d];
	off->dir[d] = base + total;
	b->ev.kind = KIND_DATA;
	b->ev.dir = d;
	b->ev.tgid = id >> 32;
	b->ev.ts_ns = bpf_ktime_get_ns();
	__u64 done = 0;
	for (int i = 0; i < CHUNKS; i++) {
		if (done >= total)
			break;
		__u64 n = total - done;
		if (n > CHUNK)
			n = CHUNK;
		if (bpf_probe_read_user(b->data, n, (void *)(call.buf + done)))
			break;
		b->ev.offset = base + done;
		b->ev.len = n;
		if (bpf_ringbuf_output(ring, b, sizeof(struct event) + n,
				       BPF_RB_NO_WAKEUP)) {
			count(COUNT_RING_FULL, 1);
			count(COUNT_RING_FULL_BYTES, n);
		} else {
			count(COUNT_EVENTS, 1);
			count(COUNT_BYTES, n);
		}
		done += n;
	}
	if (done < total)
		count(COUNT_BEYOND_CHUNKS, total - done);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(httpcap_ssl_write, void *ssl, const void *buf, int num)
{
	return enter(ssl, buf, num > 0 ? num : 0, 0, DIR_SENT);
}

SEC("uprobe")
int BPF_UPROBE(httpcap_ssl_read, void *ssl, void *buf, int num)
{
	return enter(ssl, buf, num > 0 ? num : 0, 0, DIR_RECEIVED);
}

SEC("uprobe")
int BPF_UPROBE(httpcap_ssl_write_ex, void *ssl, const void *buf, __u64 num,
	       __u64 *written)
{
	return enter(ssl, buf, num, written, DIR_SENT);
}

SEC("uprobe")
int BPF_UPROBE(httpcap_ssl_read_ex, void *ssl, void *buf, __u64 num,
	       __u64 *read)
{
	return enter(ssl, buf, num, read, DIR_RECEIVED);
}

SEC("uretprobe")
int BPF_URETPROBE(httpcap_ssl_return, int ret)
{
	return leave(ret);
}

// SSL_do_handshake (SSL_accept and SSL_connect call it): its syscalls
// show the SSL object's descriptor, for a first SSL_read that libssl
// serves from the bytes it read with the handshake (no syscall then).
SEC("uprobe")
int BPF_UPROBE(httpcap_ssl_handshake, void *ssl)
{
	return enter(ssl, 0, 0, 0, DIR_HANDSHAKE);
}

SEC("uretprobe")
int BPF_URETPROBE(httpcap_ssl_handshake_return, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *call = bpf_map_lookup_elem(&calls, &id);
	if (!call || call->dir != DIR_HANDSHAKE)
		return 0;
	if (call->fd >= 0) {
		struct ssl_key key = { .tgid = id >> 32, .ssl = call->ssl };
		__s32 fd = call->fd;
		bpf_map_update_elem(&ssl_fds, &key, &fd, BPF_ANY);
	}
	bpf_map_delete_elem(&calls, &id);
	return 0;
}

// ---- Syscalls ---------------------------------------------------------

// The syscalls:sys_enter_* tracepoints' record: common fields, the
// syscall number, then six arguments.
struct sys_enter {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

// read, write, recvfrom, sendto, readv, writev, recvmsg, sendmsg: the
// descriptor of the SSL call this thread is in.
SEC("tracepoint")
int httpcap_ssl_fd(struct sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *call = bpf_map_lookup_elem(&calls, &id);
	if (call && call->fd < 0)
		call->fd = (__s32)ctx->args[0];
	return 0;
}

// close: a socket that carried SSL data ends; the shard closes it.
SEC("tracepoint")
int httpcap_ssl_close(struct sys_enter *ctx)
{
	struct config *c = cfg();
	if (!c || c->shards == 0)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	if (is_self(c))
		return 0;
	struct sock *sk = sock_of((__s32)ctx->args[0]);
	if (!sk)
		return 0;
	__u64 sk_key = (__u64)sk;
	// (Sockets of other namespaces have no offsets: none is recorded.)
	struct offsets *off = bpf_map_lookup_elem(&offsets, &sk_key);
	if (!off)
		return 0;
	struct offsets ends = *off;
	bpf_map_delete_elem(&offsets, &sk_key);
	__u32 zero = 0;
	struct event_buf *b = bpf_map_lookup_elem(&scratch, &zero);
	if (!b)
		return 0;
	__s64 hash = fill_tuple(&b->ev, sk);
	if (hash < 0)
		return 0;
	__u32 ring_index = (__u32)hash % c->shards;
	void *ring = bpf_map_lookup_elem(&rings, &ring_index);
	if (!ring)
		return 0;
	b->ev.kind = KIND_CLOSE;
	b->ev.dir = 0;
	b->ev.tgid = id >> 32;
	b->ev.ts_ns = bpf_ktime_get_ns();
	// A close carries where each direction ended (two u64s, sent then
	// received): bytes the ring lost at the end are a hole too.
	b->ev.offset = 0;
	b->ev.len = 16;
	__builtin_memcpy(b->data, &ends, 16);
	if (bpf_ringbuf_output(ring, b, sizeof(struct event) + 16, 0))
		count(COUNT_RING_FULL, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

# Sourced by scripts that run real servers and clients: two network
# namespaces joined by one veth pair, with addresses that exist only
# there, so nothing leaves the machine.
#
#   netns_pair NS_A DEV_A IP_A NS_B DEV_B IP_B
#
# creates NS_A and NS_B, the pair DEV_A (in NS_A, IP_A/24) and DEV_B (in
# NS_B, IP_B/24), and brings both and each namespace's loopback up. The
# caller removes the namespaces (ip netns del) when it is done.
netns_pair() {
    local ns_a=$1 dev_a=$2 ip_a=$3 ns_b=$4 dev_b=$5 ip_b=$6
    ip netns add "$ns_a"
    ip netns add "$ns_b"
    ip link add "$dev_a" type veth peer name "$dev_b"
    ip link set "$dev_a" netns "$ns_a"
    ip link set "$dev_b" netns "$ns_b"
    ip -n "$ns_a" addr add "$ip_a/24" dev "$dev_a"
    ip -n "$ns_b" addr add "$ip_b/24" dev "$dev_b"
    ip -n "$ns_a" link set lo up
    ip -n "$ns_b" link set lo up
    ip -n "$ns_a" link set "$dev_a" up
    ip -n "$ns_b" link set "$dev_b" up
}

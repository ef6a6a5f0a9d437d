# Separate hosts on one machine for the benchmark scripts (sourced, not run): each host
# is a network namespace PREFIXhN with address 10.88.0.N/24 on one bridge (namespace
# PREFIXbr), as tests/common/netns.rs makes them for the tests. Needs root.
#
#   . scripts/netns.sh; netns_up PREFIX COUNT; trap 'netns_down PREFIX COUNT' EXIT

netns_up() { # PREFIX COUNT
    local prefix="$1" count="$2" br="$1br" i ns
    ip netns add "$br"
    ip -n "$br" link add br0 type bridge
    ip -n "$br" link set br0 up
    for i in $(seq "$count"); do
        ns="${prefix}h$i"
        ip netns add "$ns"
        ip -n "$br" link add "v$i" type veth peer name eth0 netns "$ns"
        ip -n "$br" link set "v$i" master br0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "10.88.0.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add default dev eth0
    done
}

netns_down() { # PREFIX COUNT: ends what runs in the hosts (SIGTERM, then SIGKILL), removes them
    local prefix="$1" count="$2" i ns pid
    for i in $(seq "$count") br; do
        ns="${prefix}h$i"
        [ "$i" = br ] && ns="${prefix}br"
        if ip netns list | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
            sleep 0.2
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}

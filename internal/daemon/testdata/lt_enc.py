#!/usr/bin/python3
"""libtorrent peers with encryption policies, for the encryption tests.

    lt_enc.py SPEC

SPEC has one peer a line: NAME MODE POLICY TORRENT SAVE_PATH [PEER]
    MODE    seed (until stdin closes), or leech: download from PEER
            (host:port), dialling it again a second after it has no peer
    POLICY  plain: out_enc_policy and in_enc_policy disabled (no MSE/PE
            at all); forced: pe_forced both ways (libtorrent's defaults
            for the rest: RC4 or plaintext after the MSE handshake)

Each peer is a libtorrent session of its own, listening on 127.0.0.1;
DHT, LSD, UPnP, NAT-PMP and uTP off. Prints, each line starting with
the peer's NAME:
    NAME port N                     once listening
    NAME done                       once it has every piece
    NAME incoming ADDR              each connection accepted
    NAME handshake ADDR             each connection past the BitTorrent
                                    handshakes (from libtorrent's peer log)
    NAME peerid ADDR HEX            the peer ID a peer sent (peer log)
    NAME exthandshake ADDR DICT     the extension handshake a peer sent,
                                    as libtorrent prints it, spaces removed
    NAME peer ADDR CLIENT ENC       each peer in the torrent's peer list,
                                    seen past its handshakes (polled:
                                    a short connection may be missed);
                                    ENC: rc4, header, plaintext; CLIENT as
                                    libtorrent names the peer (its "v",
                                    else its peer ID's prefix)
    NAME closed ADDR ERROR          each connection closed or failed with
                                    an error, also ones refused before the
                                    handshake (from the peer log)
Gives up after 300 s or when stdin closes.
"""
import sys
import threading
import time

import libtorrent as lt

peers = []
with open(sys.argv[1]) as f:
    for line in f:
        if not line.strip():
            continue
        name, mode, policy, torrent, save_path, *rest = line.split()
        enc = {"plain": lt.enc_policy.disabled, "forced": lt.enc_policy.forced}[policy]
        s = lt.session({
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_incoming_utp": False,
            "enable_outgoing_utp": False,
            "allow_multiple_connections_per_ip": True,
            "out_enc_policy": int(enc),
            "in_enc_policy": int(enc),
            "alert_mask": lt.alert.category_t.connect_notification
            | lt.alert.category_t.peer_notification
            | lt.alert.category_t.peer_log_notification
            | lt.alert.category_t.error_notification,
        })
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(torrent)
        p.save_path = save_path
        p.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        h = s.add_torrent(p)
        # Slow, so that a connection lasts while the test reads
        # Lodestone's task.peers: 1 MiB takes some 5 s. (The torrent's
        # own limits: loopback peers are in the local peer class, which
        # the session's limits leave alone.)
        h.set_upload_limit(200000)
        h.set_download_limit(200000)
        peers.append({"name": name, "mode": mode, "s": s, "h": h,
                      "peer": rest[0] if rest else None, "seen": set(),
                      "done": False, "last": 0.0})
        print(name, "port", s.listen_port(), flush=True)

stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()


def crypto(pi):
    if pi.flags & lt.peer_info.rc4_encrypted:
        return "rc4"
    if pi.flags & lt.peer_info.plaintext_encrypted:
        return "header"
    return "plaintext"


deadline = time.time() + 300
while time.time() < deadline and not stop.is_set():
    for x in peers:
        name, s, h = x["name"], x["s"], x["h"]
        for a in s.pop_alerts():
            if isinstance(a, lt.peer_log_alert):
                # The peer log is the one place libtorrent tells of a
                # connection past its handshakes, and of one it refused
                # before attaching it to the torrent (which no other
                # alert reports).
                m = a.message()
                if "<== HANDSHAKE [ connection ready ]" in m:
                    print(name, "handshake", "%s:%d" % a.ip, flush=True)
                elif "<== EXTENDED_HANDSHAKE [" in m:
                    print(name, "exthandshake", "%s:%d" % a.ip, m.split("<== EXTENDED_HANDSHAKE", 1)[1].strip().replace(" ", ""), flush=True)
                elif "<<< HANDSHAKE [ received peer_id:" in m:
                    print(name, "peerid", "%s:%d" % a.ip, m.split("peer_id:", 1)[1].split()[0], flush=True)
                elif "CONNECTION" in m and ("CLOSED" in m or "FAILED" in m) and "ERROR:" in m:
                    print(name, "closed", "%s:%d" % a.ip, m.split("ERROR:", 1)[1].strip(" ]").replace(" ", "_"), flush=True)
            if isinstance(a, lt.incoming_connection_alert):
                print(name, "incoming", "%s:%d" % a.endpoint, flush=True)
        for pi in h.get_peer_info():
            if pi.flags & (lt.peer_info.connecting | lt.peer_info.handshake):
                continue  # an outgoing connection not past its handshakes yet
            key = "%s:%d" % pi.ip
            if key not in x["seen"]:
                x["seen"].add(key)
                print(name, "peer", key, repr(pi.client).replace(" ", "_"), crypto(pi), flush=True)
        st = h.status()
        if not x["done"] and st.is_seeding:
            print(name, "done", flush=True)
            x["done"] = True
        if x["mode"] == "leech" and not st.is_seeding and st.num_peers == 0 and time.time() - x["last"] > 1:
            host, port = x["peer"].rsplit(":", 1)
            h.connect_peer((host, int(port)))
            x["last"] = time.time()
    time.sleep(0.02)

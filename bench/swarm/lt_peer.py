#!/usr/bin/python3
"""A libtorrent (Debian's python3-libtorrent) peer for bench/swarm.

    lt_peer.py seed  TORRENT SAVE_PATH PORT   check the data, then seed until stdin closes
    lt_peer.py leech TORRENT SAVE_PATH SECS   download (peers from the tracker), then exit
    lt_peer.py make  TORRENT CONTENT PIECE TRACKER
                                          write a .torrent of CONTENT as libtorrent makes
                                          it by default (v1+v2 hybrid, pad files), print
                                          its v1 info-hash, and exit

Loopback only: listens on 127.0.0.1, DHT, LSD, UPnP, NAT-PMP and uTP off.
The leecher keeps every other setting at libtorrent's default, except two
the loopback swarm needs: allow_multiple_connections_per_ip (every peer is
127.0.0.1) and min_reconnect_time 1 s (see below). The seeder starts from
libtorrent's own high_performance_seed() settings pack, in a session with
no default plugins (flags 0): a seeder with default settings spends 4-5
CPU-s per GiB on a 2-core machine and caps every leecher near one rate,
which hides the leechers' differences (bench/README.md).

seed prints "port N" once listening and "seeding" once it has checked
every piece. Then it reads commands on stdin:
    connect HOST PORT   dial HOST:PORT, and dial again every 0.5 s while
                        not connected to it (for peers that never dial
                        loopback addresses themselves, like Transmission)
    disconnect          stop dialing
It exits when stdin closes.

leech prints "done" when every piece is downloaded and hash-checked, then
exits; it gives up (exit 1) after SECS seconds.
"""
import sys
import threading
import time

import libtorrent as lt

mode, torrent, save_path, arg = sys.argv[1:5]

if mode == "make":
    import hashlib
    import os
    fs = lt.file_storage()
    lt.add_files(fs, save_path)
    ct = lt.create_torrent(fs, int(arg), 0)
    ct.add_tracker(sys.argv[5])
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(save_path)))
    meta = ct.generate()
    with open(torrent, "wb") as f:
        f.write(lt.bencode(meta))
    print(hashlib.sha1(lt.bencode(meta[b"info"])).hexdigest(), flush=True)
    sys.exit(0)

settings = lt.high_performance_seed() if mode == "seed" else {}
settings.update({
    "listen_interfaces": "127.0.0.1:%s" % (arg if mode == "seed" else "0"),
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    # Every peer is 127.0.0.1: without this, libtorrent keeps one peer per
    # IP and refuses a second connection from the "same" peer.
    "allow_multiple_connections_per_ip": True,
    # Re-dial a peer that refused 1 s later, not 60 (the default): a
    # Transmission leecher may refuse until it has loaded the torrent.
    "min_reconnect_time": 1,
    "alert_mask": int(lt.alert.category_t.status_notification) | int(lt.alert.category_t.error_notification)
    | (int(lt.alert.category_t.connect_notification) | int(lt.alert.category_t.peer_notification) if mode == "seed" else 0),
})
# flags 0: no default plugins (ut_metadata, ut_pex, smart ban) for the
# seeder; the leecher gets libtorrent's defaults.
s = lt.session(settings, 0 if mode == "seed" else 1)
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = save_path
h = s.add_torrent(p)
print("port", s.listen_port(), flush=True)


def seed():
    while not h.status().is_seeding:
        st = h.status()
        if st.errc.value() != 0:
            print("error", st.errc.message(), flush=True)
            sys.exit(1)
        time.sleep(0.05)
    print("seeding", flush=True)

    target = [None]
    lock = threading.Lock()

    def dialer():
        while True:
            with lock:
                t = target[0]
            if t is not None and not any(pi.ip == t for pi in h.get_peer_info()):
                h.connect_peer(t)
            time.sleep(0.5)

    def log_alerts():
        # Connections and peer errors, to stderr (the seeder's log).
        while True:
            s.wait_for_alert(1000)
            for a in s.pop_alerts():
                print(time.strftime("%H:%M:%S"), type(a).__name__, a.message(), file=sys.stderr, flush=True)

    threading.Thread(target=dialer, daemon=True).start()
    threading.Thread(target=log_alerts, daemon=True).start()
    for line in sys.stdin:
        f = line.split()
        if f[:1] == ["connect"] and len(f) == 3:
            with lock:
                target[0] = (f[1], int(f[2]))
            h.connect_peer(target[0])
            print(time.strftime("%H:%M:%S"), "dialing", target[0], file=sys.stderr, flush=True)
        elif f[:1] == ["disconnect"]:
            with lock:
                target[0] = None


def leech(secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        s.wait_for_alert(100)
        for a in s.pop_alerts():
            if isinstance(a, lt.torrent_error_alert):
                print("error", a.message(), flush=True)
        st = h.status()
        if st.is_finished:
            print("done", st.total_wanted_done, flush=True)
            return
    st = h.status()
    print("timeout", st.state, st.progress, flush=True)
    sys.exit(1)


if mode == "seed":
    seed()
else:
    leech(float(arg))

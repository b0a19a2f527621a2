#!/usr/bin/python3
"""A libtorrent (Debian's python3-libtorrent) peer for interop tests.

    lt_peer.py seed  TORRENT SAVE_PATH          seed until stdin closes
    lt_peer.py leech TORRENT SAVE_PATH PEER     download from PEER, then exit
    lt_peer.py make  FILE TORRENT               write a torrent of FILE, made
                                                the way libtorrent makes them
                                                (v1+v2 hybrid), and exit

Loopback only: DHT, LSD, UPnP, NAT-PMP and uTP off, listening on 127.0.0.1.
Prints "port N" once listening, "seeding" once it has every piece (seed),
"done" when the download is complete (leech). Gives up after 120 s.
"""
import sys
import threading
import time

import libtorrent as lt

mode, torrent, save_path = sys.argv[1:4]
if mode == "make":
    import os
    fs = lt.file_storage()
    lt.add_files(fs, torrent)
    ct = lt.create_torrent(fs)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(torrent)))
    with open(save_path, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    sys.exit(0)
peer = sys.argv[4] if len(sys.argv) > 4 else None

s = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "allow_multiple_connections_per_ip": True,
    "alert_mask": 0,
})
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = save_path
h = s.add_torrent(p)
print("port", s.listen_port(), flush=True)

if mode == "seed":
    # Stop when the test closes our stdin (or kills us).
    threading.Thread(target=lambda: (sys.stdin.read(), s.pause()), daemon=True).start()

deadline = time.time() + 120
announced = False
last_connect = 0.0
while time.time() < deadline:
    st = h.status()
    if mode == "seed":
        if st.is_seeding and not announced:
            print("seeding", flush=True)
            announced = True
        if s.is_paused():
            break
    else:
        if st.is_seeding:
            print("done", st.total_wanted_done, flush=True)
            break
        if st.num_peers == 0 and time.time() - last_connect > 1:
            host, port = peer.rsplit(":", 1)
            h.connect_peer((host, int(port)))
            last_connect = time.time()
    time.sleep(0.05)
else:
    print("timeout", h.status().state, h.status().progress, flush=True)
    sys.exit(1)

#!/usr/bin/python3
"""A libtorrent (Debian's python3-libtorrent) peer for interop tests.

    lt_peer.py seed  TORRENT SAVE_PATH          seed until stdin closes
    lt_peer.py seed  LIST -                     seed every torrent of LIST (lines
                                                of TORRENT<tab>SAVE_PATH)
    lt_peer.py leech TORRENT SAVE_PATH PEER     download from PEER, then exit
    lt_peer.py make  PATH TORRENT [KIND [PIECE]] write a torrent of the file or
                                                folder PATH and exit. KIND:
                                                hybrid (v1+v2, libtorrent's
                                                default), v1, v1pad (v1 with
                                                BEP 47 pad files aligning every
                                                file to a piece) or v2; PIECE:
                                                the piece size (0: libtorrent's
                                                choice)

Loopback only: DHT, LSD, UPnP, NAT-PMP and uTP off, listening on 127.0.0.1.
Prints "port N" once listening, "seeding" once it has every piece of every
torrent (seed), "done" when the download is complete (leech). Gives up
after 300 s (seed) or 120 s (leech).
"""
import sys
import threading
import time

import libtorrent as lt

mode, torrent, save_path = sys.argv[1:4]
if mode == "make":
    import os
    kind = sys.argv[4] if len(sys.argv) > 4 else "hybrid"
    piece = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    flags = {
        "hybrid": 0,
        "v1": lt.create_torrent.v1_only,
        # canonical_files: the order and pad files of a hybrid, in a v1 torrent.
        "v1pad": lt.create_torrent.v1_only | lt.create_torrent.canonical_files,
        "v2": lt.create_torrent.v2_only,
    }[kind]
    fs = lt.file_storage()
    lt.add_files(fs, torrent)
    ct = lt.create_torrent(fs, piece, flags)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(torrent)))
    with open(save_path, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    sys.exit(0)
peer = sys.argv[4] if len(sys.argv) > 4 else None
if save_path == "-":
    with open(torrent) as f:
        pairs = [line.rstrip("\n").split("\t") for line in f if line.strip()]
else:
    pairs = [(torrent, save_path)]

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
handles = []
for torrent, save_path in pairs:
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(torrent)
    p.save_path = save_path
    # Started, and not auto-managed: the session would keep only 5 seeds
    # active.
    p.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    handles.append(s.add_torrent(p))
h = handles[0]
print("port", s.listen_port(), flush=True)

if mode == "seed":
    # Stop when the test closes our stdin (or kills us).
    threading.Thread(target=lambda: (sys.stdin.read(), s.pause()), daemon=True).start()

deadline = time.time() + (300 if mode == "seed" else 120)
announced = False
last_connect = 0.0
while time.time() < deadline:
    st = h.status()
    if mode == "seed":
        if not announced and all(x.status().is_seeding for x in handles):
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

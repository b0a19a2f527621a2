#!/usr/bin/python3
"""A libtorrent (python3-libtorrent) seeder for the bind-interface test.

    bind_seeder.py TORRENT SAVE_PATH LISTEN RATE

Seeds TORRENT from SAVE_PATH, listening on LISTEN (host:port), uploading
at most RATE bytes per second, until stdin closes. DHT, LSD, UPnP,
NAT-PMP and uTP off. Prints "port N" once listening, "seeding" once it
has every piece, and "peer IP" the first time a peer connects from IP
(in either direction).
"""
import sys
import threading
import time

import libtorrent as lt

torrent, save_path, listen, rate = sys.argv[1:5]
s = lt.session({
    "listen_interfaces": listen,
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "allow_multiple_connections_per_ip": True,
    "upload_rate_limit": int(rate),
    # A connection that hears nothing for 5 s is closed (120 s by
    # default): the leecher's, cut off by its interface going down
    # without a FIN, would otherwise make libtorrent refuse the leecher's
    # next connection (the same peer id) for two minutes.
    "peer_timeout": 5,
    "alert_mask": 0,
})
p = lt.add_torrent_params()
p.ti = lt.torrent_info(torrent)
p.save_path = save_path
p.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
h = s.add_torrent(p)
print("port", s.listen_port(), flush=True)

stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

seen = set()
announced = False
deadline = time.time() + 300
while not stop.is_set() and time.time() < deadline:
    if not announced and h.status().is_seeding:
        print("seeding", flush=True)
        announced = True
    for pi in h.get_peer_info():
        ip = pi.ip[0]
        if ip not in seen:
            seen.add(ip)
            print("peer", ip, flush=True)
    time.sleep(0.02)

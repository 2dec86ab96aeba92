#!/usr/bin/env python3
"""
Defender experiment for ftpfleet (issue 3, "Done means").

Starts a private ftpfleet node (this repository's dist/, built by `npm run build`) on 127.0.0.1 only,
with its own temp dir, high ports and an ops port; then at the same time:
  - attacker (source 127.0.0.1): 100 bad-password attempts (USER alice / PASS wrong-N).
    --mode reuse : several attempts per control connection, reconnect when the server closes it
    --mode fresh : a new control connection for every attempt
    While refused at connect (banned), it knocks again every --knock seconds; each knock counts
    as one of the 100 attempts.
  - normal client (source 127.0.0.2): loop {connect, login alice, STOR 256 KiB random, RETR,
    compare sha256, QUIT} until the attacker is done (+2 s).
Scrapes /metrics before/after, stops the server by PID (SIGTERM), parses its JSON log and
prints a JSON summary.

Usage: python3 bench/experiments/defender.py --label defaults                # shipped defaults
       python3 bench/experiments/defender.py --label short --ban 2 --max-ban 8  # short bans: see growth
"""
import argparse, ftplib, hashlib, io, json, os, signal, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, 'dist', 'src', 'cli', 'main.js')
PASSWORD = 'alice-correct-horse'

ap = argparse.ArgumentParser()
ap.add_argument('--label', default='run')
ap.add_argument('--port', type=int, default=42121)
ap.add_argument('--ops-port', type=int, default=42190)
ap.add_argument('--pasv', default='42200-42299')
ap.add_argument('--ban', type=float, default=None, help='limits.defender.banDuration (default: shipped 900)')
ap.add_argument('--max-ban', type=float, default=None, help='limits.defender.maxBanDuration (default: shipped 86400)')
ap.add_argument('--delay', type=float, default=None, help='limits.failedLoginDelay (default: shipped 1)')
ap.add_argument('--mode', choices=['reuse', 'fresh'], default='reuse')
ap.add_argument('--knock', type=float, default=0.1, help='seconds between knocks while refused at connect')
ap.add_argument('--attempts', type=int, default=100)
args = ap.parse_args()

work = tempfile.mkdtemp(prefix=f'ftpfleet-def-{args.label}-')
users = os.path.join(work, 'users.yaml')
data = os.path.join(work, 'data')
os.makedirs(data)
defender = {}
if args.ban is not None: defender['banDuration'] = args.ban
if args.max_ban is not None: defender['maxBanDuration'] = args.max_ban
limits = {'defender': defender} if defender else {}
if args.delay is not None: limits['failedLoginDelay'] = args.delay
cfg = {
    'nodeId': f'audit-{args.label}',
    'listen': {'addresses': ['127.0.0.1'], 'port': args.port},
    'storage': {'backend': 'local', 'local': {'root': data, 'fsync': True}},
    'users': {'file': users},
    'passive': {'portRange': args.pasv},
    'ops': {'enabled': True, 'address': '127.0.0.1', 'port': args.ops_port},
    'limits': limits,
    'log': {'level': 'info'},
}
cfg_path = os.path.join(work, 'config.json.yaml')
with open(cfg_path, 'w') as f:
    json.dump(cfg, f)  # JSON is YAML

r = subprocess.run(['node', CLI, 'user', 'add', 'alice', '--users-file', users, '--password-stdin'],
                   input=PASSWORD + '\n', text=True, capture_output=True)
assert r.returncode == 0, r.stderr

log_path = os.path.join(work, 'server.log')
logf = open(log_path, 'w')
srv = subprocess.Popen(['node', CLI, 'serve', '--config', cfg_path], stdout=logf, stderr=subprocess.STDOUT, cwd=work)
print(f'server pid {srv.pid}, work dir {work}', file=sys.stderr)


def logs():
    out = []
    with open(log_path) as f:
        for line in f:
            try: out.append(json.loads(line))
            except ValueError: pass
    return out


def metrics():
    with urllib.request.urlopen(f'http://127.0.0.1:{args.ops_port}/metrics', timeout=5) as resp:
        text = resp.read().decode()
    keep = ('ftpfleet_bans_total', 'ftpfleet_banned_addresses', 'ftpfleet_offences_total', 'ftpfleet_connections_refused_total',
            'ftpfleet_logins_total', 'ftpfleet_transfers_total')
    return [l for l in text.splitlines() if l.startswith(keep)]


try:
    deadline = time.time() + 30
    while not any(l.get('msg') == 'ftpfleet started' for l in logs()):
        assert srv.poll() is None, open(log_path).read()
        assert time.time() < deadline, 'server did not start'
        time.sleep(0.1)
    metrics_before = metrics()

    attack = []          # per attempt: {t, outcome, code, text}
    attack_done = threading.Event()
    t0 = time.monotonic()

    def attacker():
        ftp = None
        n = 0
        try:
            while n < args.attempts:
                if ftp is None:
                    ftp = ftplib.FTP(timeout=30)
                    try:
                        ftp.connect('127.0.0.1', args.port, source_address=('127.0.0.1', 0))
                    except (ftplib.error_temp, ftplib.error_perm) as e:
                        attack.append({'t': round(time.monotonic() - t0, 3), 'outcome': 'connect-421', 'text': str(e)})
                        n += 1
                        ftp.close(); ftp = None
                        time.sleep(args.knock)
                        continue
                try:
                    ftp.sendcmd('USER alice')
                    ftp.sendcmd(f'PASS wrong-{n}')
                    outcome, text = 'pass-2xx', ''
                except ftplib.error_perm as e:
                    outcome, text = 'pass-530', str(e)
                except ftplib.error_temp as e:
                    outcome, text = 'pass-421', str(e)
                except (EOFError, OSError) as e:
                    outcome, text = 'closed', repr(e)
                attack.append({'t': round(time.monotonic() - t0, 3), 'outcome': outcome, 'text': text})
                n += 1
                if outcome != 'pass-530' or args.mode == 'fresh':
                    try: ftp.close()
                    except Exception: pass
                    ftp = None
        finally:
            if ftp: ftp.close()
            attack_done.set()

    normal = {'ok': 0, 'fail': 0, 'errors': [], 'cycle_ms': [], 'login_ms': [], 'first_t': None, 'last_t': None}

    def normal_client():
        i = 0
        stop_at = None
        while True:
            if attack_done.is_set():
                stop_at = stop_at or time.monotonic() + 2
                if time.monotonic() > stop_at: break
            payload = os.urandom(256 * 1024)
            want = hashlib.sha256(payload).hexdigest()
            name = f'n{i}.bin'
            start = time.monotonic()
            try:
                ftp = ftplib.FTP(timeout=30)
                ftp.connect('127.0.0.1', args.port, source_address=('127.0.0.2', 0))
                a = time.monotonic()
                ftp.login('alice', PASSWORD)
                normal['login_ms'].append((time.monotonic() - a) * 1000)
                ftp.storbinary(f'STOR {name}', io.BytesIO(payload))
                h = hashlib.sha256()
                ftp.retrbinary(f'RETR {name}', h.update)
                ftp.quit()
                with open(os.path.join(data, name), 'rb') as f:
                    server_copy = hashlib.sha256(f.read()).hexdigest()
                if h.hexdigest() != want or server_copy != want:
                    raise RuntimeError(f'sha256 mismatch on {name}')
                normal['ok'] += 1
                normal['cycle_ms'].append((time.monotonic() - start) * 1000)
                normal['first_t'] = normal['first_t'] or round(start - t0, 3)
                normal['last_t'] = round(time.monotonic() - t0, 3)
            except Exception as e:
                normal['fail'] += 1
                normal['errors'].append(f'{round(time.monotonic() - t0, 3)}s {e!r}')
            i += 1
            time.sleep(0.05)

    ta = threading.Thread(target=attacker); tn = threading.Thread(target=normal_client)
    tn.start(); ta.start(); ta.join(); tn.join()
    time.sleep(0.5)
    metrics_after = metrics()
finally:
    if srv.poll() is None:
        srv.send_signal(signal.SIGTERM)
        try: srv.wait(20)
        except subprocess.TimeoutExpired:
            srv.kill(); srv.wait()
    logf.close()

L = logs()
banned = [l for l in L if l.get('msg') == 'address banned']
unbanned = [l for l in L if l.get('msg') == 'address unbanned']
refused = [l for l in L if l.get('msg') == 'connection refused']
failed = [l for l in L if l.get('msg') == 'login failed']
closing = [l for l in L if l.get('msg') == 'closing session' and 'banned' in str(l.get('why', ''))]
cmdfail = [l for l in L if l.get('msg') == 'command failed' and l.get('code') == 421]


def runs(items):
    out, i = [], 0
    while i < len(items):
        j = i
        while j < len(items) and items[j] == items[i]: j += 1
        out.append(f'{j - i}x {items[i]}'); i = j
    return ', '.join(out)


outcomes = [a['outcome'] for a in attack]
first_ban = next((i + 1 for i, o in enumerate(outcomes) if o != 'pass-530'), None)
texts = {}
for a in attack: texts.setdefault(a['outcome'], a['text'])
pct = lambda xs, p: round(sorted(xs)[min(len(xs) - 1, int(p * len(xs)))], 1) if xs else None
summary = {
    'label': args.label, 'mode': args.mode, 'knock_s': args.knock, 'config_limits': limits,
    'attack': {
        'attempts': len(attack), 'sequence': runs(outcomes), 'first_non_530_at_attempt': first_ban,
        'counts': {o: outcomes.count(o) for o in sorted(set(outcomes))}, 'example_text': texts,
        'duration_s': attack[-1]['t'] if attack else None,
        'ban_times_s': [a['t'] for a in attack if a['outcome'] == 'pass-421'],
    },
    'log': {
        'address_banned': len(banned), 'address_unbanned': len(unbanned),
        'ban_durations_s': [b.get('durationSec') for b in banned], 'ban_repeat': [b.get('repeat') for b in banned],
        'connection_refused_by_why': {w: sum(1 for l in refused if l.get('why') == w) for w in sorted({l.get('why') for l in refused})},
        'connection_refused_clients': sorted({l.get('client') for l in refused}),
        'login_failed': len(failed), 'closing_session_banned': len(closing),
        'example_banned': banned[0] if banned else None,
        'example_unbanned': unbanned[0] if unbanned else None,
        'example_refused': refused[0] if refused else None,
        'lines_mentioning_127.0.0.2_refused_or_banned': sum(1 for l in L if l.get('client') == '127.0.0.2' and l.get('msg') in ('connection refused', 'address banned')),
        'error_level_lines': [l for l in L if l.get('level', 0) >= 50],
    },
    'metrics_before': metrics_before, 'metrics_after': metrics_after,
    'normal_client_127.0.0.2': {
        'ok_cycles': normal['ok'], 'failures': normal['fail'], 'errors': normal['errors'][:5],
        'window_s': [normal['first_t'], normal['last_t']],
        'cycle_ms_median': round(statistics.median(normal['cycle_ms']), 1) if normal['cycle_ms'] else None,
        'cycle_ms_p95': pct(normal['cycle_ms'], 0.95), 'cycle_ms_max': round(max(normal['cycle_ms']), 1) if normal['cycle_ms'] else None,
        'login_ms_median': round(statistics.median(normal['login_ms']), 1) if normal['login_ms'] else None,
        'login_ms_max': round(max(normal['login_ms']), 1) if normal['login_ms'] else None,
    },
    'server_log': log_path,
}
print(json.dumps(summary, indent=1))

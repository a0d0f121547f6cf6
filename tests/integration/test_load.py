"""test_load.py: 50 concurrent SMTP sessions x 5 messages; every message arrives exactly once."""
import collections
import threading

from harness import DEMO, SENDER, read_delivered, wait_for_maildir
from messages import markers_in, message

SESSIONS = 50
PER_SESSION = 5


def test_concurrent_sessions(instance):
    instance.start()
    sent, errors = [], []
    lock = threading.Lock()
    start = threading.Barrier(SESSIONS, timeout=30)

    def client():
        try:
            start.wait()
            s = instance.smtp(timeout=60)
            for _ in range(PER_SESSION):
                msg, marker = message()
                refused = s.sendmail(SENDER, [DEMO], msg)
                assert refused == {}
                with lock:
                    sent.append(marker)
            s.quit()
        except Exception as e:          # recorded, asserted below
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, "%d sessions failed, e.g. %s" % (len(errors), errors[:3])
    assert len(sent) == SESSIONS * PER_SESSION
    wait_for_maildir(instance.maildir, len(sent), timeout=90)
    instance.wait_queue_empty(30)
    counts = collections.Counter(markers_in(read_delivered(instance.maildir)))
    missing = [m for m in sent if counts[m] == 0]
    dupes = [m for m, n in counts.items() if n > 1]
    assert not missing, "%d of %d messages not delivered\n%s" % (
        len(missing), len(sent), instance.log_tail())
    assert not dupes, "%d messages delivered more than once" % len(dupes)
    assert None not in counts, "delivered message without a marker"

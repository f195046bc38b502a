"""The engine's own (C++) log messages: on stderr by default, into Python's logging (logger
"tensorforge.engine") with tf.log_to_python(), from several building threads at once too."""

import logging
import threading

import torch

import tensorforge as tf


def build_small(name="y"):
    net = tf.Network()
    x = net.add_input("x", torch.float32, (2, 3))
    net.mark_output(net.add_unary(x, "exp"), name)
    return tf.Builder(tf.BuilderConfig()).build(net)


def test_messages_go_to_python_logging_when_routed(caplog, capfd):
    tf.set_log_level("info")
    try:
        before = tf.log_to_python()
        with caplog.at_level(logging.INFO, logger="tensorforge.engine"):
            build_small()
        records = [r for r in caplog.records if r.name == "tensorforge.engine"]
        assert any("built a cpu engine" in r.getMessage() and r.levelno == logging.INFO for r in records), records
        assert "[tensorforge info]" not in capfd.readouterr().err
        assert tf.log_to_python(False) is True
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tensorforge.engine"):
            build_small()
        assert not [r for r in caplog.records if r.name == "tensorforge.engine"]
        assert "[tensorforge info] built a cpu engine" in capfd.readouterr().err
        tf.log_to_python(before)
    finally:
        tf.log_to_python(False)
        tf.set_log_level("warning")


def test_threads_building_at_once_log_through_python(caplog):
    tf.set_log_level("info")
    tf.log_to_python()
    errors = []

    def work(i):
        try:
            for _ in range(3):
                build_small(f"y{i}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    try:
        with caplog.at_level(logging.INFO, logger="tensorforge.engine"):
            threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert not any(t.is_alive() for t in threads), "a building thread hung"
        assert not errors, errors
        built = [r for r in caplog.records if "built a cpu engine" in r.getMessage()]
        assert len(built) == 12
    finally:
        tf.log_to_python(False)
        tf.set_log_level("warning")

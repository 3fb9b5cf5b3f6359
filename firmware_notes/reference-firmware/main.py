"""gaitdir open profile v1.0 — reference firmware: ESP32 + MPU-6050 under MicroPython.

Wiring: MPU-6050 VCC 3V3, GND, SDA → GPIO21, SCL → GPIO22 (AD0 low: I2C address 0x68).
Copy this file and ``gaitdir_profile.py`` to the board (``mpremote cp main.py gaitdir_profile.py :``)
and reset it; it advertises as ``gaitdir-XXXX`` and ``gaitdir scan`` lists it as kind ``gaitdir``.

What it does, in order:
* advertises the profile's service UUID (name in the scan response),
* answers control point writes with :func:`gaitdir_profile.handle_request`,
* while streaming, reads the MPU-6050 on a fixed schedule (1 kHz / (1 + SMPLRT_DIV) inside the chip,
  the same rate polled here), packs samples into frames sized for the negotiated MTU and notifies them.
"""

import time

import bluetooth
import gaitdir_profile as gp
from machine import I2C, Pin
from micropython import const

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)

_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)

# MPU-6050 registers (InvenSense register map rev 4.2)
_MPU_ADDR = const(0x68)
_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_ACCEL_XOUT_H = const(0x3B)
_PWR_MGMT_1 = const(0x6B)

# rates the MPU-6050 makes exactly from its 1 kHz (DLPF on) clock: 12.5, 25, 50, 100, 200 Hz
_RATES_MASK = (1 << 1) | (1 << 2) | (1 << 4) | (1 << 6) | (1 << 8)


class MPU6050:
    def __init__(self, i2c):
        self.i2c = i2c
        self.i2c.writeto_mem(_MPU_ADDR, _PWR_MGMT_1, b"\x01")  # wake, PLL with X gyro as clock
        self.i2c.writeto_mem(_MPU_ADDR, _CONFIG, b"\x03")  # DLPF 44 Hz: internal rate 1 kHz

    def configure(self, rate_hz, acc_range_code, gyro_range_code):
        div = int(1000 / rate_hz + 0.5) - 1
        self.i2c.writeto_mem(_MPU_ADDR, _SMPLRT_DIV, bytes([div]))
        self.i2c.writeto_mem(_MPU_ADDR, _ACCEL_CONFIG, bytes([acc_range_code << 3]))
        self.i2c.writeto_mem(_MPU_ADDR, _GYRO_CONFIG, bytes([gyro_range_code << 3]))

    def read(self):
        return gp.mpu6050_counts(self.i2c.readfrom_mem(_MPU_ADDR, _ACCEL_XOUT_H, 14))


class Clock:
    """A µs clock that does not wrap at the port's ticks period (2**30 on ESP32): frames need 32 bits."""

    def __init__(self):
        self.last = time.ticks_us()
        self.total = 0

    def now_us(self):
        t = time.ticks_us()
        self.total += time.ticks_diff(t, self.last)
        self.last = t
        return self.total


class Peripheral:
    def __init__(self, ble, imu, name):
        self.ble = ble
        self.imu = imu
        self.name = name
        self.board = gp.Board(_RATES_MASK, 0b1111, 0b1111)
        self.conn = None
        self.mtu = 23
        self.assembler = None
        self.ble.active(True)
        self.ble.config(mtu=247)  # allow the central to negotiate up to 247
        self.ble.irq(self._irq)
        service = (
            bluetooth.UUID(gp.SERVICE_UUID),
            (
                (bluetooth.UUID(gp.CONTROL_POINT_UUID), _FLAG_WRITE | _FLAG_NOTIFY),
                (bluetooth.UUID(gp.DATA_UUID), _FLAG_NOTIFY),
            ),
        )
        ((self.cp_handle, self.data_handle),) = self.ble.gatts_register_services((service,))
        self._advertise()

    def _advertise(self):
        uuid = bytes(bluetooth.UUID(gp.SERVICE_UUID))  # little-endian, as advertising data wants it
        adv = bytes([2, 0x01, 0x06, 1 + len(uuid), 0x07]) + uuid
        name = self.name.encode()
        resp = bytes([1 + len(name), 0x09]) + name
        self.ble.gap_advertise(100_000, adv_data=adv, resp_data=resp)

    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            self.conn = data[0]
            self.mtu = 23
        elif event == _IRQ_CENTRAL_DISCONNECT:
            self.conn = None
            self.board.streaming = False  # a v1 board stops when the link drops, keeps its settings
            self.assembler = None
            self._advertise()
        elif event == _IRQ_MTU_EXCHANGED:
            self.mtu = data[1]
        elif event == _IRQ_GATTS_WRITE and data[1] == self.cp_handle:
            request = self.ble.gatts_read(self.cp_handle)
            per_frame = gp.samples_per_frame(self.mtu, self.board.gyro_ranges_mask != 0)
            answer, action = gp.handle_request(self.board, request, per_frame)
            self.ble.gatts_notify(self.conn, self.cp_handle, answer)
            if action == "start":
                b = self.board
                self.imu.configure(gp.RATE_HZ[b.rate_code], b.acc_range_code, b.gyro_range_code)
                self.assembler = gp.FrameAssembler(b, gp.samples_per_frame(self.mtu, b.gyro_on))
            elif action == "stop":
                self.assembler = None

    def run(self):
        clock = Clock()
        due_us = None
        while True:
            assembler = self.assembler
            if assembler is None or self.conn is None:
                due_us = None
                time.sleep_ms(20)
                continue
            period_us = int(1_000_000 / gp.RATE_HZ[self.board.rate_code])
            now = clock.now_us()
            if due_us is None:
                due_us = now
            if now < due_us:
                time.sleep_us(min(due_us - now, 1000))
                continue
            frame = assembler.add(self.imu.read(), due_us)
            due_us += period_us  # schedule by deadline: no drift from read or notify time
            if frame is not None:
                # MicroPython has no contextlib.suppress
                try:  # noqa: SIM105
                    self.ble.gatts_notify(self.conn, self.data_handle, frame)
                except OSError:
                    pass  # link busy or gone: the frame is lost, its sequence number reveals it


def main():
    imu = MPU6050(I2C(0, scl=Pin(22), sda=Pin(21), freq=400_000))
    suffix = "".join(f"{b:02X}" for b in bluetooth.BLE().config("mac")[1][-2:])
    Peripheral(bluetooth.BLE(), imu, "gaitdir-" + suffix).run()


if __name__ == "__main__":
    main()

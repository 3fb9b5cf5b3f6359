"""Published PMD bytes used as test vectors.

Sources of the published vectors (polarofficial/polar-ble-sdk, Android library unit tests under
``sources/Android/android-communications/library/src/test/java/com/polar/androidcommunications/
api/ble/model/gatt/client/pmd/``):

* ``model/AccDataTest.kt``: "process acc raw data frame type 1", "process acc compressed data
  type 0" and "process acc compressed data type 1";
* ``model/GyrDataTest.kt``: "process gyro compressed data type 0" and "type 1";
* ``model/PmdTimeStampUtilsTest.kt``: sample time spreading;
* ``BlePmdClientControlPointResponseTest.kt``: control-point responses;
* polar-ble-sdk issue #443: a Verity Sense start command, its response ``F0 02 02 00 00``, and the
  start of a 227-byte delta-compressed ACC frame.
"""

# AccDataTest "process acc raw data frame type 1": header + 36 samples of 16-bit mG.
SDK_ACC_RAW_TYPE1 = bytes.fromhex(
    "02 00 94 35 77 00 00 00 00 01"
    "F7 FF FF FF E7 03 F8 FF FE FF E5 03 F9 FF FF FF E5 03 FA FF FF FF E6 03 FA FF FE FF E6 03"
    "F9 FF FF FF E5 03 F8 FF FF FF E6 03 F8 FF FE FF E6 03 FA FF FF FF E5 03 FA FF FF FF E7 03"
    "FA FF FF FF E5 03 F8 FF FF FF E6 03 F7 FF FF FF E6 03 F8 FF FE FF E6 03 F9 FF FE FF E7 03"
    "F9 FF 00 00 E6 03 F9 FF FF FF E6 03 F7 FF FE FF E5 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03"
    "FA FF 00 00 E6 03 F9 FF FE FF E6 03 F8 FF FF FF E6 03 F8 FF FF FF E5 03 F9 FF FF FF E6 03"
    "F9 FF FF FF E5 03 FA FF FF FF E6 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03 F8 FF FE FF E6 03"
    "F9 FF FF FF E6 03 F9 FF FF FF E6 03 F9 FF 00 00 E5 03 F9 FF FE FF E6 03 F8 FF FE FF E6 03"
    "F7 FF FE FF E6 03"
)

# AccDataTest "process acc compressed data type 0": reference + one block of 56 × 10-bit deltas.
SDK_ACC_DELTA_TYPE0 = bytes.fromhex(
    "02 00 94 35 77 00 00 00 00 80"
    "71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE 4C FE BA 2F 92 BF"
    "EE 4B E4 B1 FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 B5 F7 D2 B8 ED BD 30 7E 7B 2F 8B E3"
    "CE 8B E2 BA F7 A2 B8 EE BC 20 BE 7B 2F 88 F3 CE CB E1 BD EF 52 F8 EF BC 18 FE 3B 2F 84 03"
    "BF CB E0 C2 EF 32 B8 F0 BB 04 4E BC 2E 81 13 AF 0B E0 C6 EF F2 F7 F1 B9 FC 7D BC 2E 7D 27"
    "9F 4B DF CA EB C2 F7 F2 B8 EC CD 7C 2E 7B 37 8F 4B DE CE E3 92 F7 F3 B8 E0 0D FD 2D 77 4B"
    "7F CB DD D2 DF 62 37 F5 B7 D4 4D BD 2D 74 5B 6F CB DC D7 D7 32 37 F6 B5 C8 8D 7D 2D 71 6B"
    "4F 4B DC DC D3 F2 36 F7 B4 BC DD FD 2C 6F 7B 3F 4B DB E0 CF D2 36 F8 B2 B0 2D BE 2C 6C 8F"
    "1F CB DA E3 C7 A2 76 F9"
)

# AccDataTest "process acc compressed data type 1": reference + 1 sample of 6-bit deltas.
SDK_ACC_DELTA_TYPE1 = bytes.fromhex("02 65 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08")

# GyrDataTest "process gyro compressed data type 0" and "type 1".
SDK_GYRO_TYPE0 = bytes.fromhex("05 FF FF FF FF FF FF FF 7F 80 EA FF 08 00 0D 00 03 01 DF 00")
SDK_GYRO_TYPE1 = bytes.fromhex(
    "05 00 94 35 77 00 00 00 00 81 00 00 80 3F 00 00 20 41 00 00 A0 41 1C 01 00 00 A0 01 00 00 08 CD CC EC 0D"
)

# polar-ble-sdk issue #443 (Verity Sense, ACC 52 Hz outside SDK mode: no FACTOR, plain mG): the first
# 48 bytes of a 227-byte frame, i.e. header, reference sample and the first delta block, plus the next
# block's header.
ISSUE_443_FRAME_START = bytes.fromhex(
    "02 00 41 6F C4 12 45 93 0A 81 EE 02 1F FE 82 FF 08 0A 10 DA 20 D6 A3 0B D9 CB E7 D6 F6 C4 E6 F1"
    "E1 F3 E0 15 1A FE 28 1B F8 37 2C 25 20 13 19 11 0A 2F"
)
ISSUE_443_START_COMMAND = bytes.fromhex("02 02 00 01 34 00 01 01 10 00 02 01 08 00 04 01 03")

import { BLE_LINK } from './ble.ts';
import { HID_LINK } from './hid.ts';
import { NFC_LINK } from './nfc.ts';
import { registerLinkKind } from './registry.ts';

/**
 * The built-in transport kinds. A new kind is one module beside these (a LinkKind: its
 * names, which device specs reach it, and its Link) and one registerLinkKind call, here or
 * from wherever the kind is provided.
 */
for (const kind of [HID_LINK, NFC_LINK, BLE_LINK]) registerLinkKind(kind);

export {
  type Link,
  type LinkContext,
  type LinkKind,
  linkKind,
  linkKinds,
  linkTransport,
  registerLinkKind,
  stationTransports,
  transportsOf,
} from './registry.ts';

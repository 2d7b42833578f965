// The suites reach the station through here (the CLI or plain mocha opens it).
export { getStation } from '../../rig/station/active-station.ts';

/** U2F actions: the raw messages through the scenario's U2F client, presence given as the step says. */
import { hex } from '../../bytes.ts';
import { deviceFault } from '../../errors.ts';
import { hostRandomBytes } from '../../random.ts';
import { SW } from '../../transport/nfc/apdu.ts';
import { AUTH_P1 } from '../../u2f/apdu.ts';
import {
  encodeAuthenticate,
  encodeRegister,
  encodeVersion,
  parseAuthenticateResponse,
  parseRegisterResponse,
} from '../../u2f/messages.ts';
import { authenticationSignatureValid, registrationSignatureValid } from '../../u2f/signatures.ts';
import { type ActionHandler, apduAnswer, short, timed } from '../action.ts';
import type { Action, Step } from '../schema.ts';
import { value } from '../values.ts';

/** Presence is given on USB and BLE unless the step says none; on NFC the tap is the presence. */
function presenceFor(step: Step, transport: string): boolean {
  return (step.presence ?? (transport === 'nfc' ? 'none' : 'press')) === 'press';
}

const noPress = (step: Step) => (step.presence === 'none' ? ', no press' : '');

export const U2F_ACTIONS = {
  version: {
    run: (run, step) => {
      const form = step.version === 'legacy' ? 'legacy' : 'iso';
      return timed(async () => apduAnswer(await run.u2f.send(encodeVersion(form))));
    },
  },

  register: {
    async run(run, step, where) {
      const { u2f } = run;
      const app = value(run, step.register?.app ?? 'random');
      const challenge = value(run, step.register?.challenge ?? 'random');
      const p1 = step.register?.p1;
      const apdu = encodeRegister(challenge, app, p1 === undefined ? {} : { p1 });
      const answer = await timed(async () =>
        apduAnswer(
          presenceFor(step, run.loaded.scenario.transport)
            ? await u2f.sendWithPresence(apdu, 'REGISTER')
            : await u2f.send(apdu),
        ),
      );
      if (answer.sw === SW.NO_ERROR) {
        const r = parseRegisterResponse(answer.data!);
        if (!registrationSignatureValid(app, challenge, r)) {
          throw deviceFault(
            `${where}: the registration signature does not verify with the attestation certificate's key`,
            {
              actual: hex(r.signature),
            },
          );
        }
        run.credentials.set(hex(r.keyHandle), { publicKey: r.userPublicKey, appParam: app });
        answer.fields = {
          keyHandle: r.keyHandle,
          publicKey: r.userPublicKey,
          certificate: r.certificate,
          signature: r.signature,
        };
      }
      return answer;
    },
    describe: (step, name) => `register${name} app ${short(step.register?.app ?? 'random')}${noPress(step)}`,
  },

  authenticate: {
    async run(run, step, where) {
      const { u2f } = run;
      const a = step.authenticate!;
      const keyHandle = value(run, a.keyHandle);
      const known = run.credentials.get(hex(keyHandle));
      const app = a.app ? value(run, a.app) : (known?.appParam ?? hostRandomBytes(32));
      const challenge = value(run, a.challenge ?? 'random');
      const mode = a.mode ?? 'enforce';
      const p1 =
        mode === 'enforce'
          ? AUTH_P1.ENFORCE
          : mode === 'check-only'
            ? AUTH_P1.CHECK_ONLY
            : AUTH_P1.DONT_ENFORCE;
      const apdu = encodeAuthenticate(p1, challenge, app, keyHandle);
      const press = mode === 'enforce' && presenceFor(step, run.loaded.scenario.transport);
      const answer = await timed(async () =>
        apduAnswer(press ? await u2f.sendWithPresence(apdu, 'AUTHENTICATE') : await u2f.send(apdu)),
      );
      if (answer.sw === SW.NO_ERROR) {
        const r = parseAuthenticateResponse(answer.data!);
        if (known && !authenticationSignatureValid(known.publicKey, app, challenge, r)) {
          throw deviceFault(
            `${where}: the authentication signature does not verify with the registered key`,
            {
              actual: hex(r.signature),
            },
          );
        }
        if (!known)
          run.ctx.observe(`${where}: key handle not registered in this scenario; signature not verified`);
        answer.fields = { counter: r.counter, flags: r.flags, signature: r.signature };
      }
      return answer;
    },
    describe: (step, name) =>
      `authenticate${name} ${step.authenticate?.mode ?? 'enforce'}, key handle ${short(step.authenticate?.keyHandle)}${noPress(step)}`,
  },

  apdu: {
    run: (run, step) => timed(async () => apduAnswer(await run.u2f.send(value(run, step.apdu!)))),
    describe: (step, name) => `apdu${name} ${short(step.apdu)}`,
  },
} satisfies Partial<Record<Action, ActionHandler>>;

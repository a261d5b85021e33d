#!/usr/bin/env node
// Asks mailroute to send one email over RabbitMQ, then waits for what became of it.
//
//   node producer.js --company-id UUID --event-id ID --to ADDRESS --subject TEXT --text TEXT
//
// Prints the EmailSent or EmailFailed as one JSON line. Exit status: 0 sent, 2 failed,
// 1 refused (invalid event), timed out, or any other error.
'use strict';

const { randomUUID } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const amqp = require('amqplib');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const RABBITMQ_URL = process.env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672/';
const EVENTS_EXCHANGE = process.env.EVENTS_EXCHANGE || 'mailroute.events';
const SCHEMAS_DIR = process.env.SCHEMAS_DIR || path.resolve(__dirname, '../../schemas');
const SCHEMA_FILES = [
  'events/EmailRequested.v1.json',
  'events/EmailSent.v1.json',
  'events/EmailFailed.v1.json',
  'envelopes/dispatch_email.v1.json',
];
const MAX_BODY_BYTES = 128 * 1024; // larger emails go over HTTP (POST /v1/emails)
const EXIT_STATUS = { EmailSent: 0, EmailFailed: 2 };

function readOptions() {
  const { values } = parseArgs({
    options: {
      'company-id': { type: 'string' },
      'event-id': { type: 'string' },
      to: { type: 'string', multiple: true },
      subject: { type: 'string' },
      text: { type: 'string' },
      kind: { type: 'string', default: 'invoice' },
      sender: { type: 'string', default: 'auto' },
      'correlation-id': { type: 'string' },
      timeout: { type: 'string', default: '60' },
    },
  });
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) throw new Error(`--timeout must be a number of seconds, not ${values.timeout}`);
  return { ...values, timeout };
}

// The committed contracts, by file name: validator('EmailSent'), validator('dispatch_email').
function loadValidators() {
  const ajv = new Ajv2020({ allErrors: true, verbose: true });
  addFormats(ajv);
  const ids = {};
  for (const file of SCHEMA_FILES) {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, file), 'utf8'));
    ajv.addSchema(schema);
    ids[path.basename(file).split('.')[0]] = schema.$id;
  }
  return (name) => ajv.getSchema(ids[name]);
}

function check(validate, value, what) {
  if (validate(value)) return;
  const problems = validate.errors.map((error) => {
    const field = [error.instancePath.slice(1), error.params.missingProperty]
      .filter(Boolean)
      .join('/');
    // An anyOf names its rule in the schema's description ("... (recipient_required)").
    const rule = (error.keyword === 'anyOf' && error.parentSchema.description) || error.message;
    return `  ${field || what}: ${rule}`;
  });
  throw new Error(`refused: the ${what} is invalid\n${problems.join('\n')}`);
}

// What we publish, as JSON: dramatiq's message envelope around one EmailRequested.
function buildBody(options) {
  const event = {
    type: 'EmailRequested',
    schema_version: 1,
    event_id: options['event-id'],
    company_id: options['company-id'],
    kind: options.kind,
    sender: options.sender,
    to: options.to,
    subject: options.subject,
    text: options.text,
    correlation_id: options['correlation-id'],
  };
  const envelope = {
    queue_name: 'dispatch',
    actor_name: 'mailroute.dispatch_email',
    args: [event],
    kwargs: {},
    options: {},
    message_id: randomUUID(),
    message_timestamp: Date.now(),
  };
  return JSON.stringify(envelope); // leaves out the fields of options not given
}

// Our own queue for the outcome events, bound BEFORE publishing so that none is missed.
// (Exclusive: it goes when we disconnect. A long-running service binds a durable one.)
async function bindOutcomeQueue(channel) {
  await channel.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, EVENTS_EXCHANGE, 'email.*');
  return queue;
}

function nextOutcome(channel, queue, request) {
  return new Promise((resolve, reject) => {
    channel.on('close', () => reject(new Error('the channel closed before the outcome came')));
    const onMessage = (message) => {
      if (message === null) return reject(new Error('the outcome queue was deleted'));
      const event = parseJson(message.content);
      // Outcomes of other emails come too; event ids are unique per company.
      const ours = event.event_id === request.event_id && event.company_id === request.company_id;
      if (ours && event.type in EXIT_STATUS) resolve(event);
    };
    channel.consume(queue, onMessage, { noAck: true }).catch(reject);
  });
}

// Confirmed (acked, not returned) means mailroute has the email; if not, publish it again
// with the same event_id: mailroute sends it once.
async function publish(channel, body) {
  let returned = null;
  channel.once('return', (message) => {
    returned = message;
  });
  const properties = { persistent: true, mandatory: true, contentType: 'application/json' };
  await new Promise((resolve, reject) => {
    channel.publish('', 'dispatch', Buffer.from(body, 'utf8'), properties, (error) =>
      error ? reject(new Error('the broker refused the message (nack)')) : resolve(),
    );
  });
  if (returned) {
    const { replyCode, replyText } = returned.fields;
    throw new Error(`the broker returned the message (${replyCode} ${replyText}): no dispatch queue`);
  }
}

function parseJson(content) {
  try {
    return JSON.parse(content.toString('utf8')) ?? {};
  } catch {
    return {}; // not an event of ours
  }
}

function within(seconds, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const options = readOptions();
  const validator = loadValidators();
  const body = buildBody(options);
  const envelope = JSON.parse(body); // validate exactly what goes on the wire
  check(validator('EmailRequested'), envelope.args[0], 'EmailRequested');
  check(validator('dispatch_email'), envelope, 'dispatch_email envelope');
  if (Buffer.byteLength(body) > MAX_BODY_BYTES) {
    throw new Error('refused: over 128 KiB; send this email over HTTP (POST /v1/emails)');
  }

  const connection = await amqp.connect(RABBITMQ_URL);
  connection.on('error', () => {}); // a failing call rejects with the same error, caught below
  try {
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => {});
    const queue = await bindOutcomeQueue(channel);
    await publish(channel, body);
    const outcome = nextOutcome(channel, queue, envelope.args[0]);
    const event = await within(options.timeout, outcome, 'EmailSent or EmailFailed');
    check(validator(event.type), event, event.type);
    console.log(JSON.stringify(event));
    return EXIT_STATUS[event.type];
  } finally {
    await connection.close().catch(() => {});
  }
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    console.error(error.message);
    process.exitCode = 1;
  },
);

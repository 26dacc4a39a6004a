// The npm `openai` package as a real client of mies (run by server_process_test):
//   node openai_client.mjs <baseURL e.g. http://127.0.1.1:1025/v1> <model> [apiKey]
// (apiKey: what the client sends as `Authorization: Bearer`, for a server with API keys on.)
// Exits non-zero with a message on the first check that fails.
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const [, , baseURL, model, apiKey = 'unused'] = process.argv;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
const prompt = 'Once upon a time';

// Chat, not streamed.
const chat = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 16, temperature: 0,
});
assert.equal(chat.object, 'chat.completion');
assert.equal(chat.choices.length, 1);
assert.equal(chat.choices[0].message.role, 'assistant');
assert.ok(chat.choices[0].message.content.length > 0, 'chat content is empty');
assert.ok(chat.usage.completion_tokens > 0 && chat.usage.completion_tokens <= 16);
assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + chat.usage.completion_tokens);

// Chat, streamed with include_usage: the deltas add up to the same greedy text.
const stream = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 16, temperature: 0,
  stream: true, stream_options: { include_usage: true },
});
let streamed = '';
let usage = null;
let finish = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    streamed += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.equal(streamed, chat.choices[0].message.content, 'streamed chat differs from non-streamed');
assert.equal(finish, chat.choices[0].finish_reason);
assert.equal(usage.completion_tokens, chat.usage.completion_tokens);

// Completion, greedy, then the same streamed.
const comp = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0 });
assert.equal(comp.object, 'text_completion');
const text = comp.choices[0].text;
assert.ok(text.length > 0);
let streamedText = '';
for await (const chunk of await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0, stream: true })) {
  for (const c of chunk.choices) streamedText += c.text;
}
assert.equal(streamedText, text, 'streamed completion differs');

// n: two sampled choices, each with its index; seed makes them reproducible.
const many = await client.completions.create({ model, prompt, max_tokens: 8, temperature: 1, n: 2, seed: 11 });
assert.deepEqual(many.choices.map((c) => c.index).sort(), [0, 1]);
const again = await client.completions.create({ model, prompt, max_tokens: 8, temperature: 1, n: 2, seed: 11 });
assert.deepEqual(again.choices.map((c) => c.text), many.choices.map((c) => c.text), 'same seed, different text');

// stop: cut at a word the greedy continuation contains.
const words = text.trim().split(/\s+/);
const stopWord = words.length > 2 ? ' ' + words[2] : null;
if (stopWord && text.includes(stopWord)) {
  const stopped = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0, stop: [stopWord] });
  assert.equal(stopped.choices[0].text, text.slice(0, text.indexOf(stopWord)));
  assert.equal(stopped.choices[0].finish_reason, 'stop');
}

// logprobs (chat): one entry per generated token, each with its top alternatives.
const lp = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 2,
});
const content = lp.choices[0].logprobs.content;
assert.equal(content.length, lp.usage.completion_tokens);
for (const t of content) {
  assert.ok(t.logprob <= 0);
  assert.equal(t.top_logprobs.length, 2);
  // Greedy: the chosen token is the most likely one.
  assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-4);
}

// Errors surface as the client's typed errors with the server's message; an unknown model is
// NotFoundError, as with OpenAI and vLLM.
await assert.rejects(
  client.completions.create({ model: 'no-such-model', prompt, max_tokens: 2 }),
  (e) => e instanceof OpenAI.NotFoundError && /Not found given model/.test(e.message));
await assert.rejects(
  client.completions.create({ model, prompt, max_tokens: 2, logit_bias: { 99999: 5 } }),
  (e) => e instanceof OpenAI.BadRequestError && /99999/.test(e.message));

// Without a model the only one served answers; empty content is a message like any other; tools
// the model's template ignores do no harm.
const anon = await client.chat.completions.create({
  messages: [{ role: 'system', content: '' }, { role: 'user', content: 'Hi' }], max_tokens: 4,
  temperature: 0, tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
});
assert.equal(anon.model, model);
assert.equal(anon.choices[0].message.role, 'assistant');
await assert.rejects(
  client.completions.create({ model, prompt, max_tokens: 2, temperature: -1 }),
  (e) => e.status === 422 && /temperature/.test(e.message));
await assert.rejects(
  client.chat.completions.create({ model, messages: [], max_tokens: 2 }),
  (e) => e.status === 422 && /messages/.test(e.message));

// Structured output with a real model (a tiny one that knows nothing of JSON): the answer
// follows the schema, whatever the sampling, in every choice.
const person = {
  type: 'object', additionalProperties: false, required: ['name', 'age', 'pet'],
  properties: {
    name: { type: 'string', maxLength: 8 }, age: { type: 'integer', minimum: 0, maximum: 120 },
    pet: { enum: ['cat', 'dog'] },
  },
};
const structured = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Who are you?' }], max_tokens: 300, temperature: 1,
  seed: 7, n: 2, response_format: { type: 'json_schema', json_schema: { name: 'person', schema: person, strict: true } },
});
for (const c of structured.choices) {
  assert.equal(c.finish_reason, 'stop', c.message.content);
  const v = JSON.parse(c.message.content);
  assert.deepEqual(Object.keys(v).sort(), ['age', 'name', 'pet']);
  assert.ok(typeof v.name === 'string' && [...v.name].length <= 8, c.message.content);
  assert.ok(Number.isInteger(v.age) && v.age >= 0 && v.age <= 120, c.message.content);
  assert.ok(['cat', 'dog'].includes(v.pet), c.message.content);
}
const choice = await client.completions.create({
  model, prompt, max_tokens: 10, temperature: 1, guided_choice: ['red', 'green', 'blue'],
});
assert.ok(['red', 'green', 'blue'].includes(choice.choices[0].text), choice.choices[0].text);
await assert.rejects(
  client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'x' }], max_tokens: 2,
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', uniqueItems: true } } },
  }),
  (e) => e instanceof OpenAI.BadRequestError && /response_format: .*uniqueItems/.test(e.message));

// tool_choice forces calls: whole, and streamed through the client's stream helper, which
// assembles delta.tool_calls.
const tools = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', required: ['unit'], properties: { unit: { enum: ['c', 'f'] } }, additionalProperties: false } } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {}, additionalProperties: false } } },
];
const forced = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Weather?' }], max_tokens: 300, temperature: 1,
  seed: 3, tools, tool_choice: 'required',
});
const msg = forced.choices[0].message;
assert.equal(forced.choices[0].finish_reason, 'tool_calls', JSON.stringify(msg));
assert.ok(msg.tool_calls.length >= 1);
for (const call of msg.tool_calls) {
  assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
  assert.equal(call.type, 'function');
  const args = JSON.parse(call.function.arguments);
  if (call.function.name === 'get_weather') assert.ok(['c', 'f'].includes(args.unit));
  else assert.equal(call.function.name, 'get_time');
}
const toolStream = client.beta.chat.completions.stream({
  model, messages: [{ role: 'user', content: 'Time?' }], max_tokens: 300, temperature: 1,
  seed: 5, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } },
});
const named = (await toolStream.finalChatCompletion()).choices[0];
assert.equal(named.finish_reason, 'tool_calls');
assert.equal(named.message.tool_calls.length, 1);
assert.equal(named.message.tool_calls[0].function.name, 'get_weather');
assert.ok(['c', 'f'].includes(JSON.parse(named.message.tool_calls[0].function.arguments).unit));

// Models.
const models = await client.models.list();
assert.equal(models.data[0].id, model);
console.log('openai client: all checks passed');

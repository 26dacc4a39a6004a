// The npm `openai` client against mies with API keys on (run by server_api_key_test):
//   node openai_api_key.mjs <baseURL e.g. http://127.0.1.1:1025/v1> <model> <key> [expect]
// expect "ok" (default): the key is accepted on every kind of call; "401": the client's
// AuthenticationError with OpenAI's invalid_api_key body, and nothing else.
// Exits non-zero with a message on the first check that fails.
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const [, , baseURL, model, apiKey, expect = 'ok'] = process.argv;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
const prompt = 'Once upon a time';

if (expect === 'ok') {
  const chat = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 8, temperature: 0,
  });
  assert.equal(chat.object, 'chat.completion');
  assert.ok(chat.choices[0].message.content.length > 0, 'chat content is empty');
  let streamed = '';
  for await (const chunk of await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0, stream: true })) {
    for (const c of chunk.choices) streamed += c.text;
  }
  assert.ok(streamed.length > 0, 'streamed completion is empty');
  const models = await client.models.list();
  assert.equal(models.data[0].id, model);
  console.log('openai api key: accepted');
} else if (expect === '401') {
  const refused = (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, `not an AuthenticationError: ${e}`);
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_api_key');
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.param, null);
    assert.match(e.message, /Incorrect API key provided\./);
    assert.ok(!e.message.includes(apiKey), 'the key is echoed');
    assert.equal(e.headers?.get?.('www-authenticate') ?? e.headers?.['www-authenticate'], 'Bearer');
    return true;
  };
  await assert.rejects(client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2,
  }), refused);
  await assert.rejects(client.completions.create({ model, prompt, max_tokens: 2, stream: true }), refused);
  await assert.rejects(client.models.list(), refused);
  console.log('openai api key: refused with 401');
} else {
  throw new Error(`unknown expectation ${expect}`);
}

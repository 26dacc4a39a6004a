// Replays a streamed chat answer recorded from mies to the npm `openai` client's stream helper
// and prints what the client assembles (run by chat_tools_test):
//   node openai_tool_stream.mjs <file with the SSE bytes>
// Prints {"message", "finish_reason", "done": [names of calls the helper reported done]}.
import OpenAI from 'openai';
import fs from 'node:fs';
import http from 'node:http';

const [, , file] = process.argv;
const sse = fs.readFileSync(file);
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse);
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
try {
  const client = new OpenAI({
    baseURL: `http://127.0.0.1:${server.address().port}/v1`, apiKey: 'unused', maxRetries: 0,
  });
  const stream = client.beta.chat.completions.stream({
    model: 'stories260K',
    messages: [{ role: 'user', content: 'Weather?' }],
    tools: [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } },
    ],
  });
  const done = [];
  stream.on('tool_calls.function.arguments.done', (e) => done.push(e.name));
  const completion = await stream.finalChatCompletion();
  const choice = completion.choices[0];
  console.log(JSON.stringify({ message: choice.message, finish_reason: choice.finish_reason, done }));
} finally {
  server.close();
}

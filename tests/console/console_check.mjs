// Drives the mies console in headless Chromium (puppeteer-core, the system's chromium) and
// checks what a person would see. Used by console_browser_test.cc; by hand:
//   node console_check.mjs --url http://<mgmt ip>:<port>/console --expect healthy \
//     --nodes 127.0.1.80,127.0.1.81 --out /tmp/shots [--play]
//   node console_check.mjs ... --expect lost --lost 127.0.1.81
// Fails (exit 1, reasons on stderr) on any browser console error, page error, failed request
// or HTTP error answer, or when the page does not show what is expected within --timeout ms.
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';
import puppeteer from 'puppeteer-core';

function args() {
  const out = {expect: 'healthy', nodes: '', lost: '', out: '.', play: false, timeout: '20000'};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (k === 'play') out.play = true;
    else out[k] = argv[++i];
  }
  return out;
}

const opt = args();
const timeout = Number(opt.timeout);
mkdirSync(opt.out, {recursive: true});
const problems = [];
let closing = false;
const started = Date.now();
const log = (m) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${m}`);

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
         '--no-default-browser-check', '--disable-extensions'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (!closing) problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  await page.setViewport({width: 1200, height: 1000});
  await page.goto(opt.url, {waitUntil: 'load', timeout});
  await page.waitForFunction(() => document.body.dataset.loaded === 'true', {timeout});
  log('console loaded');

  const nodes = opt.nodes ? opt.nodes.split(',') : [];
  if (opt.expect === 'healthy') {
    await page.waitForFunction((want) => {
      const rows = [...document.querySelectorAll('#nodes tbody tr')];
      return rows.length === want.length &&
             want.every((a) => rows.some((r) => r.dataset.node === a &&
                                               r.dataset.status === 'healthy'));
    }, {timeout}, nodes);
    const view = await page.evaluate(() => ({
      state: document.getElementById('cluster-state').textContent,
      master: document.querySelector('#nodes tr[data-role="master"]')?.dataset.node,
      boxes: document.querySelectorAll('#ranktable g[data-node]').length,
      model: document.getElementById('model').textContent,
      formed: [...document.querySelectorAll('#events li[data-kind="formed"]')].length,
      h1: document.querySelector('h1').textContent,
    }));
    log(`cluster ${view.state}, master ${view.master}, ${view.boxes} node boxes`);
    if (view.state !== 'healthy') problems.push(`cluster state ${view.state}, want healthy`);
    if (view.master !== nodes[0]) problems.push(`master ${view.master}, want ${nodes[0]}`);
    if (view.boxes !== nodes.length) problems.push(`${view.boxes} node boxes in the ranktable`);
    if (!view.model.includes('stories260K')) problems.push(`model facts: ${view.model}`);
    if (view.formed < 1) problems.push('no "cluster formed" event listed');
    await page.screenshot({path: join(opt.out, 'console-healthy.png'), fullPage: true});

    if (opt.play) {
      // Keyboard only: type the prompt, tab to max_tokens, submit with Enter on the button.
      await page.click('#prompt', {clickCount: 3});
      await page.keyboard.type('Once upon a time, there was');
      await page.focus('#max-tokens');
      await page.$eval('#max-tokens', (e) => { e.value = ''; });
      await page.keyboard.type('24');
      await page.focus('#generate');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.getElementById('output').dataset.done,
                                 {timeout});
      const play = await page.evaluate(() => ({
        done: document.getElementById('output').dataset.done,
        text: document.getElementById('output').textContent,
        status: document.getElementById('play-status').textContent,
      }));
      log(`playground: ${play.status} ${JSON.stringify(play.text)}`);
      if (play.done !== 'true') problems.push(`playground failed: ${play.status}`);
      if (play.text.trim().length === 0) problems.push('playground streamed no text');
      // The charts pick the generation up on the next polls: its TTFT and inter-token
      // percentiles, and a tokens/s figure.
      await page.waitForFunction(() => {
        const cap = (id) => document.querySelector(`#${id} figcaption`)?.textContent || '';
        return /p50 [0-9.]+ ms/.test(cap('chart-ttft')) && /p50 [0-9.]+ ms/.test(cap('chart-itl')) &&
               /tokens\/s [0-9.]+ tok\/s/.test(cap('chart-tokens'));
      }, {timeout});
      await page.screenshot({path: join(opt.out, 'console-playground.png'), fullPage: true});
    }
    // A narrow window: the layout still fits without horizontal scrolling of the page.
    await page.setViewport({width: 380, height: 900});
    await new Promise((r) => setTimeout(r, 300));  // the ranktable re-lays out on resize
    const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 2) problems.push(`the page scrolls sideways by ${overflow} px at 380 px`);
    await page.screenshot({path: join(opt.out, 'console-narrow.png'), fullPage: true});
  } else if (opt.expect === 'lost') {
    await page.waitForFunction((lost) => {
      const row = document.querySelector(`#nodes tr[data-node="${lost}"]`);
      const ev = document.querySelector(`#events li.error[data-kind="lost"][data-node="${lost}"]`);
      return row && row.dataset.status === 'lost' && ev && ev.textContent.includes(lost);
    }, {timeout}, opt.lost);
    const view = await page.evaluate((lost) => ({
      state: document.getElementById('cluster-state').textContent,
      row: document.querySelector(`#nodes tr[data-node="${lost}"]`).textContent,
      event: document.querySelector(`#events li[data-kind="lost"][data-node="${lost}"]`)
                 .textContent,
    }), opt.lost);
    log(`cluster ${view.state}; row: ${view.row}; event: ${view.event}`);
    if (view.state === 'healthy') problems.push('cluster still shown healthy');
    await page.screenshot({path: join(opt.out, 'console-lost.png'), fullPage: true});
  } else {
    problems.push(`unknown --expect ${opt.expect}`);
  }
} catch (e) {
  problems.push(`check failed: ${e.message}`);
} finally {
  closing = true;
  await browser.close();
}
if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
log('ok');

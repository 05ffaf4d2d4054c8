// dynamodb-admin (already running at ADMIN_URL, talking to `dynafile serve`)
// driven in headless Chromium by playwright-core:
//   node admin_smoke.mjs ADMIN_URL TABLE OUT_DIR
// Lists the tables, opens TABLE, sees its items, creates an item and edits
// it, saving a screenshot of each step in OUT_DIR; prints one JSON object
// of what the pages showed. (The page's JSON editor is Ace, set through its
// own API, as a paste would.)
import { chromium } from 'playwright-core';

const [adminUrl, table, outDir] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = { steps: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.setDefaultTimeout(20000);
  const shot = async (name) => {
    await page.screenshot({ path: `${outDir}/${name}.png`, fullPage: true });
    out.steps.push(name);
  };

  // 1. the table list
  await page.goto(adminUrl);
  await page.getByRole('link', { name: table, exact: true }).waitFor();
  out.tablesPage = await page.locator('body').innerText();
  await shot('1-tables');

  // 2. open the table: its items load into the scan view
  await page.getByRole('link', { name: table, exact: true }).click();
  await page.waitForURL(`**/tables/${table}`);
  await page.getByText('Ada Lovelace').first().waitFor();
  out.tablePage = await page.locator('body').innerText();
  await shot('2-items');

  // 3. create an item in the JSON editor and save it
  await page.getByRole('link', { name: 'Create item' }).click();
  await page.waitForURL('**/add-item');
  await page.waitForFunction(() => typeof editor !== 'undefined');
  await page.evaluate(() => editor.setValue(JSON.stringify(
    { pk: 'gui', sk: 'created', name: 'Made in the GUI', count: 1 }, null, 2)));
  await page.locator('#saveButton').click();
  await page.waitForURL('**/items/**');
  await page.waitForFunction(() => typeof editor !== 'undefined' && editor.getValue().includes('Made in the GUI'));
  out.created = await page.evaluate(() => editor.getValue());
  await shot('3-created');

  // 4. edit it and save again
  await page.evaluate(() => {
    const item = JSON.parse(editor.getValue());
    item.name = 'Edited in the GUI';
    item.count = 2;
    editor.setValue(JSON.stringify(item, null, 2));
  });
  await page.locator('#saveButton').click();
  await page.locator('#saveButton.btn-success').waitFor();
  out.edited = await page.evaluate(() => editor.getValue());
  await shot('4-edited');

  // 5. back to the table: both items are listed
  await page.goto(`${adminUrl}/tables/${table}`);
  await page.getByText('Edited in the GUI').first().waitFor();
  out.finalPage = await page.locator('body').innerText();
  await shot('5-table-after');
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));

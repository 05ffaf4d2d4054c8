// The AWS SDK for JavaScript v3 against `dynafile serve`: node sdk_smoke.mjs URL
// Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the server
// checks the SDK's SigV4 signatures). Prints one JSON object of what it saw.
import {
  DynamoDBClient, CreateTableCommand, ListTablesCommand, PutItemCommand, GetItemCommand,
  QueryCommand, UpdateItemCommand, BatchWriteItemCommand, DeleteItemCommand,
  TransactWriteItemsCommand, ConditionalCheckFailedException, ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';

const endpoint = process.argv[2];
const client = new DynamoDBClient({ endpoint, region: 'us-east-1', maxAttempts: 1 });
const TableName = 'jsorders';
const out = {};

await client.send(new CreateTableCommand({
  TableName,
  KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
  AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' },
                         { AttributeName: 'sk', AttributeType: 'N' }],
  BillingMode: 'PAY_PER_REQUEST',
}));
out.tables = (await client.send(new ListTablesCommand({}))).TableNames;
await client.send(new PutItemCommand({ TableName, Item: {
  pk: { S: 'c1' }, sk: { N: '1' }, name: { S: 'Grace' }, tags: { SS: ['a', 'b'] },
  nested: { M: { list: { L: [{ N: '1' }, { BOOL: true }, { NULL: true }] } } },
  blob: { B: new Uint8Array([1, 2, 3]) } } }));
await client.send(new BatchWriteItemCommand({ RequestItems: { [TableName]: [2, 3, 4].map((n) => (
  { PutRequest: { Item: { pk: { S: 'c1' }, sk: { N: String(n) }, name: { S: `n${n}` } } } })) } }));
const got = await client.send(new GetItemCommand({ TableName, Key: { pk: { S: 'c1' }, sk: { N: '1' } } }));
out.item = got.Item;
out.blob = Array.from(got.Item.blob.B);
const q = await client.send(new QueryCommand({ TableName, KeyConditionExpression: 'pk = :p AND sk >= :s',
  ExpressionAttributeValues: { ':p': { S: 'c1' }, ':s': { N: '2' } }, ScanIndexForward: false }));
out.query = q.Items.map((i) => i.sk.N);
const u = await client.send(new UpdateItemCommand({ TableName, Key: { pk: { S: 'c1' }, sk: { N: '1' } },
  UpdateExpression: 'SET #n = :n ADD visits :one', ExpressionAttributeNames: { '#n': 'name' },
  ExpressionAttributeValues: { ':n': { S: 'Grace Hopper' }, ':one': { N: '1' } }, ReturnValues: 'ALL_NEW' }));
out.updated = u.Attributes.name.S;
try {
  await client.send(new PutItemCommand({ TableName, Item: { pk: { S: 'c1' }, sk: { N: '1' } },
    ConditionExpression: 'attribute_not_exists(pk)' }));
  out.conditional = 'no error';
} catch (e) {
  out.conditional = e instanceof ConditionalCheckFailedException ? e.name : `other: ${e.name}`;
}
try {
  await client.send(new GetItemCommand({ TableName: 'missing', Key: { pk: { S: 'x' } } }));
} catch (e) {
  out.missing = e instanceof ResourceNotFoundException ? e.name : `other: ${e.name}`;
}
await client.send(new TransactWriteItemsCommand({ TransactItems: [
  { Put: { TableName, Item: { pk: { S: 'c2' }, sk: { N: '1' } } } },
  { Delete: { TableName, Key: { pk: { S: 'c1' }, sk: { N: '4' } } } }] }));
await client.send(new DeleteItemCommand({ TableName, Key: { pk: { S: 'c1' }, sk: { N: '3' } } }));
const after = await client.send(new QueryCommand({ TableName, KeyConditionExpression: 'pk = :p',
  ExpressionAttributeValues: { ':p': { S: 'c1' } } }));
out.after = after.Items.map((i) => i.sk.N);
console.log(JSON.stringify(out));

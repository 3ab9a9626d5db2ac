// Values as people read them where no chart gives the unit: an alert's value in the alerts
// pages and notifications, and the team page's change per day. Never exponent notation
// (String(6.9e-7) is "6.9e-7"), never seventeen digits (a cost of 0.01605652575580244).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { valueText } from '../src/query/value-text.js';
import { changeIn } from '../src/dashboards/team.js';
import { conditionWords } from '../src/alerts/evaluate.js';

test("an alert's value in its metric's unit", () => {
  assert.equal(
    [
      valueText('cost_usd', 0.01605652575580244),
      valueText('cost_usd', 1234.567),
      valueText('cost_usd', 10),
      valueText('tool_p95_ms', 1250.4),
      valueText('error_rate', 0.1234),
      valueText('tool_failure_rate', 0),
      valueText('active_time_s', 5000.2),
      valueText('tool_calls', 12),
      valueText('tool_calls', 3.3333),
      valueText('tokens', 1234567),
      valueText('cost_usd', null),
      valueText('cost_usd', 0.5),
      valueText('cost_usd', 0.00001),
      valueText('cost_usd', -12.5),
    ],
    [
      '$0.0161',
      '$1,234.567',
      '$10',
      '1,250.4 ms',
      '12.34%',
      '0%',
      '5,000.2 s',
      '12',
      '3.3333',
      '1,234,567',
      'no data',
      '$0.50',
      '$0.00001',
      '−$12.50',
    ],
  );
  // A value that fires never reads as its threshold.
  assert.equal(
    [valueText('cost_usd', 5.001), valueText('tool_failure_rate', 0.00001), valueText('tool_p50_ms', 0.4)],
    ['$5.001', '0.001%', '0.4 ms'],
  );
});

test("an alert's condition in the unit of its value", () => {
  assert.is(conditionWords({ type: 'threshold', op: 'above', value: 0.2 } as never, 'tool_failure_rate'), 'above 20%');
  assert.is(
    conditionWords({ type: 'forecast', op: 'above', value: 0.00001, by: 'month' } as never, 'cost_usd'),
    'projected above $0.00001 by month end',
  );
  assert.is(conditionWords({ type: 'anomaly', z: 2 } as never, 'cost_usd'), 'z-score above 2');
});

test("the team page's change per day: two significant digits, never an exponent", () => {
  assert.is(changeIn('usd', 6.9e-7), '$0.00000069');
  assert.is(changeIn('count', 0.000041), '0.000041');
  assert.is(changeIn('count', 0.04), '0.04');
  assert.is(changeIn('usd', 0.0042), '$0.0042');
});

test.run();

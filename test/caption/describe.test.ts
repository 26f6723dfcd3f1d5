import assert from 'node:assert/strict';
import { test } from 'node:test';

import { buildCaption, regionName, type CaptionObject } from '../../src/caption/describe.js';
import type { BoxMotion } from '../../src/caption/motion.js';

const walk = (dx: number): BoxMotion => ({ dx, dy: 0, relSpeed: 0.03, state: 'walking pace', direction: dx > 0 ? 'right' : 'left' });
const fastRight: BoxMotion = { dx: 5, dy: 0, relSpeed: 0.12, state: 'fast', direction: 'right' };
const person = (x: number, m = walk(1)): CaptionObject => ({ label: 'person', score: 0.5, box: [x, 0.3, 0.05, 0.15], motion: m });

test('regionName names the 3x3 cell of the box centre', () => {
  assert.equal(regionName([0.4, 0.8, 0.1, 0.1]), 'lower centre');
  assert.equal(regionName([0.0, 0.0, 0.1, 0.1]), 'upper left');
  assert.equal(regionName([0.45, 0.45, 0.1, 0.1]), 'centre');
  assert.equal(regionName([0.8, 0.4, 0.1, 0.1]), 'middle right');
});

test('a fast bicycle among walkers is the subject, with the walkers summarised and the region', () => {
  const objects = [...Array.from({ length: 9 }, (_, i) => person(i * 0.1)), { label: 'bicycle', score: 0.4, box: [0.45, 0.7, 0.08, 0.12], motion: fastRight } as CaptionObject];
  const c = buildCaption(objects);
  assert.equal(c.text, 'a bicycle moving fast to the right through nine walking people, lower centre');
  assert.equal(c.subject, 9);
  assert.deepEqual(c.groups.find((g) => g.label === 'person'), { label: 'person', count: 9, state: 'walking pace', direction: 'right' });
  assert.equal(c.anomaly, null);
});

test('a person overlapping a bicycle becomes "a person riding a bicycle"; the anomaly box picks the subject', () => {
  const rider = { label: 'person', score: 0.6, box: [0.5, 0.55, 0.06, 0.2], motion: fastRight } as CaptionObject;
  const bike = { label: 'bicycle', score: 0.3, box: [0.49, 0.65, 0.08, 0.1], motion: fastRight } as CaptionObject;
  const c = buildCaption([person(0.1), person(0.2), rider, bike], [0.48, 0.55, 0.1, 0.2]);
  assert.equal(c.text, 'a person riding a bicycle moving fast to the right through two walking people, centre');
  assert.equal(c.anomaly?.region, 'centre');
  assert.equal(c.objects[c.subject!]!.label, 'person');
});

test('only people: counts and main direction; nothing detected says so, with the anomaly region', () => {
  assert.equal(buildCaption([person(0.1, walk(-1)), person(0.3, walk(-1)), person(0.5, walk(1))]).text, 'three people walking, mostly to the left');
  assert.equal(buildCaption([]).text, 'no objects detected');
  assert.equal(buildCaption([], [0.0, 0.7, 0.2, 0.2]).text, 'no objects detected; anomaly lower left');
});

test('plurals and counts in the "with" clause', () => {
  const objects: CaptionObject[] = [
    { label: 'car', score: 0.9, box: [0.1, 0.1, 0.2, 0.2] },
    { label: 'bus', score: 0.5, box: [0.6, 0.1, 0.2, 0.2] },
    { label: 'bus', score: 0.4, box: [0.6, 0.5, 0.2, 0.2] },
  ];
  assert.equal(buildCaption(objects).text, 'a car, with two buses, upper left');
});

test('buildCaption is pure: same input, same output, input untouched', () => {
  const objects = [person(0.1), person(0.5, fastRight)];
  const copy = structuredClone(objects);
  assert.deepEqual(buildCaption(objects), buildCaption(objects));
  assert.deepEqual(objects, copy);
  assert.equal(buildCaption(objects).text, 'a person running to the right through one walking person, centre');
});

test('a moving object outranks a still one as the subject; skis come in pairs', () => {
  const still: CaptionObject = { label: 'traffic light', score: 0.6, box: [0.1, 0.1, 0.05, 0.1], motion: { dx: 0, dy: 0, relSpeed: 0, state: 'still', direction: 'none' } };
  const skis: CaptionObject = { label: 'skis', score: 0.35, box: [0.5, 0.8, 0.05, 0.05], motion: fastRight };
  assert.equal(buildCaption([still, skis, person(0.3)]).text, 'a pair of skis moving fast to the right through one walking person, with a traffic light, lower centre');
});

import { describeServiceLifecycle } from '@splitlet/testing';

describeServiceLifecycle('registrar');

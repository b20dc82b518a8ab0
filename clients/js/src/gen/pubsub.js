/*eslint-disable block-scoped-var, id-length, no-control-regex, no-magic-numbers, no-mixed-operators, no-prototype-builtins, no-redeclare, no-shadow, no-var, sort-vars, default-case, jsdoc/require-param*/
import $protobuf from "protobufjs/minimal.js";

// Common aliases
const $Reader = $protobuf.Reader, $Writer = $protobuf.Writer, $util = $protobuf.util;
const $Object = $util.global.Object, $undefined = $util.global.undefined, $Error = $util.global.Error, $RangeError = $util.global.RangeError;

// Exported root namespace
const $root = $protobuf.roots["default"] || ($protobuf.roots["default"] = {});

export const pubsub = $root.pubsub = (() => {

    /**
     * Namespace pubsub.
     * @exports pubsub
     * @namespace
     */
    const pubsub = {};

    pubsub.CmdEmpty = (function() {

        /**
         * Properties of a CmdEmpty.
         * @typedef {Object} pubsub.CmdEmpty.$Properties
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdEmpty.
         * @memberof pubsub
         * @interface ICmdEmpty
         * @augments pubsub.CmdEmpty.$Properties
         * @deprecated Use pubsub.CmdEmpty.$Properties instead.
         */

        /**
         * Shape of a CmdEmpty.
         * @typedef {pubsub.CmdEmpty.$Properties} pubsub.CmdEmpty.$Shape
         */

        /**
         * Constructs a new CmdEmpty.
         * @memberof pubsub
         * @classdesc Represents a CmdEmpty.
         * @constructor
         * @param {pubsub.CmdEmpty.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdEmpty = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * Creates a new CmdEmpty instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdEmpty
         * @static
         * @param {pubsub.CmdEmpty.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdEmpty} CmdEmpty instance
         * @type {{
         *   (properties: pubsub.CmdEmpty.$Shape): pubsub.CmdEmpty & pubsub.CmdEmpty.$Shape;
         *   (properties?: pubsub.CmdEmpty.$Properties): pubsub.CmdEmpty;
         * }}
         */
        CmdEmpty.create = function(properties) {
            return new CmdEmpty(properties);
        };

        /**
         * Encodes the specified CmdEmpty message. Does not implicitly {@link pubsub.CmdEmpty.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdEmpty
         * @static
         * @param {pubsub.CmdEmpty.$Properties} message CmdEmpty message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdEmpty.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdEmpty message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdEmpty
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdEmpty & pubsub.CmdEmpty.$Shape} CmdEmpty
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdEmpty.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdEmpty();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                reader.skipType(tag & 7, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdEmpty;
    })();

    pubsub.CmdPing = (function() {

        /**
         * Properties of a CmdPing.
         * @typedef {Object} pubsub.CmdPing.$Properties
         * @property {Uint8Array|null} [state] CmdPing state
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdPing.
         * @memberof pubsub
         * @interface ICmdPing
         * @augments pubsub.CmdPing.$Properties
         * @deprecated Use pubsub.CmdPing.$Properties instead.
         */

        /**
         * Shape of a CmdPing.
         * @typedef {pubsub.CmdPing.$Properties} pubsub.CmdPing.$Shape
         */

        /**
         * Constructs a new CmdPing.
         * @memberof pubsub
         * @classdesc Represents a CmdPing.
         * @constructor
         * @param {pubsub.CmdPing.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdPing = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdPing state.
         * @member {Uint8Array} state
         * @memberof pubsub.CmdPing
         * @instance
         */
        CmdPing.prototype.state = $util.newBuffer([]);

        /**
         * Creates a new CmdPing instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdPing
         * @static
         * @param {pubsub.CmdPing.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdPing} CmdPing instance
         * @type {{
         *   (properties: pubsub.CmdPing.$Shape): pubsub.CmdPing & pubsub.CmdPing.$Shape;
         *   (properties?: pubsub.CmdPing.$Properties): pubsub.CmdPing;
         * }}
         */
        CmdPing.create = function(properties) {
            return new CmdPing(properties);
        };

        /**
         * Encodes the specified CmdPing message. Does not implicitly {@link pubsub.CmdPing.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdPing
         * @static
         * @param {pubsub.CmdPing.$Properties} message CmdPing message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdPing.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.state != null && $Object.hasOwnProperty.call(message, "state") && message.state.length)
                writer.uint32(/* id 1, wireType 2 =*/10).bytes(message.state);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdPing message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdPing
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdPing & pubsub.CmdPing.$Shape} CmdPing
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdPing.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdPing();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.bytes()).length)
                            message.state = value;
                        else
                            delete message.state;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdPing;
    })();

    pubsub.CmdKafkaListOffset = (function() {

        /**
         * Properties of a CmdKafkaListOffset.
         * @typedef {Object} pubsub.CmdKafkaListOffset.$Properties
         * @property {string|null} [topic] CmdKafkaListOffset topic
         * @property {number|null} [partition] CmdKafkaListOffset partition
         * @property {number|Long|null} [timestamp] CmdKafkaListOffset timestamp
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdKafkaListOffset.
         * @memberof pubsub
         * @interface ICmdKafkaListOffset
         * @augments pubsub.CmdKafkaListOffset.$Properties
         * @deprecated Use pubsub.CmdKafkaListOffset.$Properties instead.
         */

        /**
         * Shape of a CmdKafkaListOffset.
         * @typedef {pubsub.CmdKafkaListOffset.$Properties} pubsub.CmdKafkaListOffset.$Shape
         */

        /**
         * Constructs a new CmdKafkaListOffset.
         * @memberof pubsub
         * @classdesc Represents a CmdKafkaListOffset.
         * @constructor
         * @param {pubsub.CmdKafkaListOffset.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdKafkaListOffset = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdKafkaListOffset topic.
         * @member {string} topic
         * @memberof pubsub.CmdKafkaListOffset
         * @instance
         */
        CmdKafkaListOffset.prototype.topic = "";

        /**
         * CmdKafkaListOffset partition.
         * @member {number} partition
         * @memberof pubsub.CmdKafkaListOffset
         * @instance
         */
        CmdKafkaListOffset.prototype.partition = 0;

        /**
         * CmdKafkaListOffset timestamp.
         * @member {number|Long} timestamp
         * @memberof pubsub.CmdKafkaListOffset
         * @instance
         */
        CmdKafkaListOffset.prototype.timestamp = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * Creates a new CmdKafkaListOffset instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdKafkaListOffset
         * @static
         * @param {pubsub.CmdKafkaListOffset.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdKafkaListOffset} CmdKafkaListOffset instance
         * @type {{
         *   (properties: pubsub.CmdKafkaListOffset.$Shape): pubsub.CmdKafkaListOffset & pubsub.CmdKafkaListOffset.$Shape;
         *   (properties?: pubsub.CmdKafkaListOffset.$Properties): pubsub.CmdKafkaListOffset;
         * }}
         */
        CmdKafkaListOffset.create = function(properties) {
            return new CmdKafkaListOffset(properties);
        };

        /**
         * Encodes the specified CmdKafkaListOffset message. Does not implicitly {@link pubsub.CmdKafkaListOffset.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdKafkaListOffset
         * @static
         * @param {pubsub.CmdKafkaListOffset.$Properties} message CmdKafkaListOffset message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdKafkaListOffset.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.topic);
            if (message.partition != null && $Object.hasOwnProperty.call(message, "partition") && message.partition !== 0)
                writer.uint32(/* id 2, wireType 0 =*/16).int32(message.partition);
            if (message.timestamp != null && $Object.hasOwnProperty.call(message, "timestamp") && (typeof message.timestamp === "object" ? message.timestamp.low || message.timestamp.high : message.timestamp !== 0))
                writer.uint32(/* id 3, wireType 0 =*/24).int64(message.timestamp);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdKafkaListOffset message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdKafkaListOffset
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaListOffset & pubsub.CmdKafkaListOffset.$Shape} CmdKafkaListOffset
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdKafkaListOffset.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdKafkaListOffset();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.partition = value;
                        else
                            delete message.partition;
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.timestamp = value;
                        else
                            delete message.timestamp;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdKafkaListOffset;
    })();

    pubsub.CmdKafkaFetch = (function() {

        /**
         * Properties of a CmdKafkaFetch.
         * @typedef {Object} pubsub.CmdKafkaFetch.$Properties
         * @property {string|null} [topic] CmdKafkaFetch topic
         * @property {number|null} [partition] CmdKafkaFetch partition
         * @property {number|Long|null} [offset] CmdKafkaFetch offset
         * @property {number|null} [maxMessages] CmdKafkaFetch maxMessages
         * @property {number|null} [maxBytes] CmdKafkaFetch maxBytes
         * @property {number|null} [maxWaitMs] CmdKafkaFetch maxWaitMs
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdKafkaFetch.
         * @memberof pubsub
         * @interface ICmdKafkaFetch
         * @augments pubsub.CmdKafkaFetch.$Properties
         * @deprecated Use pubsub.CmdKafkaFetch.$Properties instead.
         */

        /**
         * Shape of a CmdKafkaFetch.
         * @typedef {pubsub.CmdKafkaFetch.$Properties} pubsub.CmdKafkaFetch.$Shape
         */

        /**
         * Constructs a new CmdKafkaFetch.
         * @memberof pubsub
         * @classdesc Represents a CmdKafkaFetch.
         * @constructor
         * @param {pubsub.CmdKafkaFetch.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdKafkaFetch = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdKafkaFetch topic.
         * @member {string} topic
         * @memberof pubsub.CmdKafkaFetch
         * @instance
         */
        CmdKafkaFetch.prototype.topic = "";

        /**
         * CmdKafkaFetch partition.
         * @member {number} partition
         * @memberof pubsub.CmdKafkaFetch
         * @instance
         */
        CmdKafkaFetch.prototype.partition = 0;

        /**
         * CmdKafkaFetch offset.
         * @member {number|Long} offset
         * @memberof pubsub.CmdKafkaFetch
         * @instance
         */
        CmdKafkaFetch.prototype.offset = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * CmdKafkaFetch maxMessages.
         * @member {number} maxMessages
         * @memberof pubsub.CmdKafkaFetch
         * @instance
         */
        CmdKafkaFetch.prototype.maxMessages = 0;

        /**
         * CmdKafkaFetch maxBytes.
         * @member {number} maxBytes
         * @memberof pubsub.CmdKafkaFetch
         * @instance
         */
        CmdKafkaFetch.prototype.maxBytes = 0;

        /**
         * CmdKafkaFetch maxWaitMs.
         * @member {number} maxWaitMs
         * @memberof pubsub.CmdKafkaFetch
         * @instance
         */
        CmdKafkaFetch.prototype.maxWaitMs = 0;

        /**
         * Creates a new CmdKafkaFetch instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdKafkaFetch
         * @static
         * @param {pubsub.CmdKafkaFetch.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdKafkaFetch} CmdKafkaFetch instance
         * @type {{
         *   (properties: pubsub.CmdKafkaFetch.$Shape): pubsub.CmdKafkaFetch & pubsub.CmdKafkaFetch.$Shape;
         *   (properties?: pubsub.CmdKafkaFetch.$Properties): pubsub.CmdKafkaFetch;
         * }}
         */
        CmdKafkaFetch.create = function(properties) {
            return new CmdKafkaFetch(properties);
        };

        /**
         * Encodes the specified CmdKafkaFetch message. Does not implicitly {@link pubsub.CmdKafkaFetch.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdKafkaFetch
         * @static
         * @param {pubsub.CmdKafkaFetch.$Properties} message CmdKafkaFetch message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdKafkaFetch.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.topic);
            if (message.partition != null && $Object.hasOwnProperty.call(message, "partition") && message.partition !== 0)
                writer.uint32(/* id 2, wireType 0 =*/16).int32(message.partition);
            if (message.offset != null && $Object.hasOwnProperty.call(message, "offset") && (typeof message.offset === "object" ? message.offset.low || message.offset.high : message.offset !== 0))
                writer.uint32(/* id 3, wireType 0 =*/24).int64(message.offset);
            if (message.maxMessages != null && $Object.hasOwnProperty.call(message, "maxMessages") && message.maxMessages !== 0)
                writer.uint32(/* id 4, wireType 0 =*/32).int32(message.maxMessages);
            if (message.maxBytes != null && $Object.hasOwnProperty.call(message, "maxBytes") && message.maxBytes !== 0)
                writer.uint32(/* id 5, wireType 0 =*/40).int32(message.maxBytes);
            if (message.maxWaitMs != null && $Object.hasOwnProperty.call(message, "maxWaitMs") && message.maxWaitMs !== 0)
                writer.uint32(/* id 6, wireType 0 =*/48).int32(message.maxWaitMs);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdKafkaFetch message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdKafkaFetch
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaFetch & pubsub.CmdKafkaFetch.$Shape} CmdKafkaFetch
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdKafkaFetch.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdKafkaFetch();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.partition = value;
                        else
                            delete message.partition;
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.offset = value;
                        else
                            delete message.offset;
                        continue;
                    }
                case 4: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.maxMessages = value;
                        else
                            delete message.maxMessages;
                        continue;
                    }
                case 5: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.maxBytes = value;
                        else
                            delete message.maxBytes;
                        continue;
                    }
                case 6: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.maxWaitMs = value;
                        else
                            delete message.maxWaitMs;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdKafkaFetch;
    })();

    pubsub.KafkaHeader = (function() {

        /**
         * Properties of a KafkaHeader.
         * @typedef {Object} pubsub.KafkaHeader.$Properties
         * @property {string|null} [key] KafkaHeader key
         * @property {Uint8Array|null} [value] KafkaHeader value
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaHeader.
         * @memberof pubsub
         * @interface IKafkaHeader
         * @augments pubsub.KafkaHeader.$Properties
         * @deprecated Use pubsub.KafkaHeader.$Properties instead.
         */

        /**
         * Shape of a KafkaHeader.
         * @typedef {pubsub.KafkaHeader.$Properties} pubsub.KafkaHeader.$Shape
         */

        /**
         * Constructs a new KafkaHeader.
         * @memberof pubsub
         * @classdesc Represents a KafkaHeader.
         * @constructor
         * @param {pubsub.KafkaHeader.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaHeader = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaHeader key.
         * @member {string} key
         * @memberof pubsub.KafkaHeader
         * @instance
         */
        KafkaHeader.prototype.key = "";

        /**
         * KafkaHeader value.
         * @member {Uint8Array} value
         * @memberof pubsub.KafkaHeader
         * @instance
         */
        KafkaHeader.prototype.value = $util.newBuffer([]);

        /**
         * Creates a new KafkaHeader instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaHeader
         * @static
         * @param {pubsub.KafkaHeader.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaHeader} KafkaHeader instance
         * @type {{
         *   (properties: pubsub.KafkaHeader.$Shape): pubsub.KafkaHeader & pubsub.KafkaHeader.$Shape;
         *   (properties?: pubsub.KafkaHeader.$Properties): pubsub.KafkaHeader;
         * }}
         */
        KafkaHeader.create = function(properties) {
            return new KafkaHeader(properties);
        };

        /**
         * Encodes the specified KafkaHeader message. Does not implicitly {@link pubsub.KafkaHeader.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaHeader
         * @static
         * @param {pubsub.KafkaHeader.$Properties} message KafkaHeader message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaHeader.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.key != null && $Object.hasOwnProperty.call(message, "key") && message.key !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.key);
            if (message.value != null && $Object.hasOwnProperty.call(message, "value") && message.value.length)
                writer.uint32(/* id 2, wireType 2 =*/18).bytes(message.value);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaHeader message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaHeader
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaHeader & pubsub.KafkaHeader.$Shape} KafkaHeader
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaHeader.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaHeader();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.key = value;
                        else
                            delete message.key;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.bytes()).length)
                            message.value = value;
                        else
                            delete message.value;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaHeader;
    })();

    pubsub.CmdKafkaProduce = (function() {

        /**
         * Properties of a CmdKafkaProduce.
         * @typedef {Object} pubsub.CmdKafkaProduce.$Properties
         * @property {string|null} [topic] CmdKafkaProduce topic
         * @property {number|null} [partition] CmdKafkaProduce partition
         * @property {Uint8Array|null} [key] CmdKafkaProduce key
         * @property {Uint8Array|null} [value] CmdKafkaProduce value
         * @property {Array.<pubsub.KafkaHeader.$Properties>|null} [headers] CmdKafkaProduce headers
         * @property {number|Long|null} [timestamp] CmdKafkaProduce timestamp
         * @property {string|null} [idempotencyKey] CmdKafkaProduce idempotencyKey
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdKafkaProduce.
         * @memberof pubsub
         * @interface ICmdKafkaProduce
         * @augments pubsub.CmdKafkaProduce.$Properties
         * @deprecated Use pubsub.CmdKafkaProduce.$Properties instead.
         */

        /**
         * Shape of a CmdKafkaProduce.
         * @typedef {pubsub.CmdKafkaProduce.$Properties} pubsub.CmdKafkaProduce.$Shape
         */

        /**
         * Constructs a new CmdKafkaProduce.
         * @memberof pubsub
         * @classdesc Represents a CmdKafkaProduce.
         * @constructor
         * @param {pubsub.CmdKafkaProduce.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdKafkaProduce = function (properties) {
            this.headers = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdKafkaProduce topic.
         * @member {string} topic
         * @memberof pubsub.CmdKafkaProduce
         * @instance
         */
        CmdKafkaProduce.prototype.topic = "";

        /**
         * CmdKafkaProduce partition.
         * @member {number|null|undefined} partition
         * @memberof pubsub.CmdKafkaProduce
         * @instance
         */
        CmdKafkaProduce.prototype.partition = null;

        /**
         * CmdKafkaProduce key.
         * @member {Uint8Array} key
         * @memberof pubsub.CmdKafkaProduce
         * @instance
         */
        CmdKafkaProduce.prototype.key = $util.newBuffer([]);

        /**
         * CmdKafkaProduce value.
         * @member {Uint8Array} value
         * @memberof pubsub.CmdKafkaProduce
         * @instance
         */
        CmdKafkaProduce.prototype.value = $util.newBuffer([]);

        /**
         * CmdKafkaProduce headers.
         * @member {Array.<pubsub.KafkaHeader.$Properties>} headers
         * @memberof pubsub.CmdKafkaProduce
         * @instance
         */
        CmdKafkaProduce.prototype.headers = $util.emptyArray;

        /**
         * CmdKafkaProduce timestamp.
         * @member {number|Long} timestamp
         * @memberof pubsub.CmdKafkaProduce
         * @instance
         */
        CmdKafkaProduce.prototype.timestamp = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * CmdKafkaProduce idempotencyKey.
         * @member {string} idempotencyKey
         * @memberof pubsub.CmdKafkaProduce
         * @instance
         */
        CmdKafkaProduce.prototype.idempotencyKey = "";

        // OneOf field names bound to virtual getters and setters
        let $oneOfFields;

        // Virtual OneOf for proto3 optional field
        $Object.defineProperty(CmdKafkaProduce.prototype, "_partition", {
            get: $util.oneOfGetter($oneOfFields = ["partition"]),
            set: $util.oneOfSetter($oneOfFields)
        });

        /**
         * Creates a new CmdKafkaProduce instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdKafkaProduce
         * @static
         * @param {pubsub.CmdKafkaProduce.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdKafkaProduce} CmdKafkaProduce instance
         * @type {{
         *   (properties: pubsub.CmdKafkaProduce.$Shape): pubsub.CmdKafkaProduce & pubsub.CmdKafkaProduce.$Shape;
         *   (properties?: pubsub.CmdKafkaProduce.$Properties): pubsub.CmdKafkaProduce;
         * }}
         */
        CmdKafkaProduce.create = function(properties) {
            return new CmdKafkaProduce(properties);
        };

        /**
         * Encodes the specified CmdKafkaProduce message. Does not implicitly {@link pubsub.CmdKafkaProduce.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdKafkaProduce
         * @static
         * @param {pubsub.CmdKafkaProduce.$Properties} message CmdKafkaProduce message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdKafkaProduce.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.topic);
            if (message.partition != null && $Object.hasOwnProperty.call(message, "partition"))
                writer.uint32(/* id 2, wireType 0 =*/16).int32(message.partition);
            if (message.key != null && $Object.hasOwnProperty.call(message, "key") && message.key.length)
                writer.uint32(/* id 3, wireType 2 =*/26).bytes(message.key);
            if (message.value != null && $Object.hasOwnProperty.call(message, "value") && message.value.length)
                writer.uint32(/* id 4, wireType 2 =*/34).bytes(message.value);
            if (message.headers != null && message.headers.length)
                for (let i = 0; i < message.headers.length; ++i)
                    $root.pubsub.KafkaHeader.encode(message.headers[i], writer.uint32(/* id 5, wireType 2 =*/42).fork(), _depth + 1).ldelim();
            if (message.timestamp != null && $Object.hasOwnProperty.call(message, "timestamp") && (typeof message.timestamp === "object" ? message.timestamp.low || message.timestamp.high : message.timestamp !== 0))
                writer.uint32(/* id 6, wireType 0 =*/48).int64(message.timestamp);
            if (message.idempotencyKey != null && $Object.hasOwnProperty.call(message, "idempotencyKey") && message.idempotencyKey !== "")
                writer.uint32(/* id 7, wireType 2 =*/58).string(message.idempotencyKey);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdKafkaProduce message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdKafkaProduce
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaProduce & pubsub.CmdKafkaProduce.$Shape} CmdKafkaProduce
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdKafkaProduce.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdKafkaProduce();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        message.partition = reader.int32();
                        message._partition = "partition";
                        continue;
                    }
                case 3: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.bytes()).length)
                            message.key = value;
                        else
                            delete message.key;
                        continue;
                    }
                case 4: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.bytes()).length)
                            message.value = value;
                        else
                            delete message.value;
                        continue;
                    }
                case 5: {
                        if (wireType !== 2)
                            break;
                        if (!(message.headers && message.headers.length))
                            message.headers = [];
                        message.headers.push($root.pubsub.KafkaHeader.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                case 6: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.timestamp = value;
                        else
                            delete message.timestamp;
                        continue;
                    }
                case 7: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.idempotencyKey = value;
                        else
                            delete message.idempotencyKey;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdKafkaProduce;
    })();

    /**
     * StartPosition enum.
     * @name pubsub.StartPosition
     * @enum {number}
     * @property {number} LATEST=0 LATEST value
     * @property {number} EARLIEST=1 EARLIEST value
     * @property {number} LAST=2 LAST value
     * @property {number} OFFSET=3 OFFSET value
     * @property {number} TIMESTAMP=4 TIMESTAMP value
     * @property {number} TIME_DELTA=5 TIME_DELTA value
     */
    pubsub.StartPosition = (function() {
        const valuesById = $Object.create(null), values = $Object.create(valuesById);
        values[valuesById[0] = "LATEST"] = 0;
        values[valuesById[1] = "EARLIEST"] = 1;
        values[valuesById[2] = "LAST"] = 2;
        values[valuesById[3] = "OFFSET"] = 3;
        values[valuesById[4] = "TIMESTAMP"] = 4;
        values[valuesById[5] = "TIME_DELTA"] = 5;
        return values;
    })();

    pubsub.CmdKafkaSubscribe = (function() {

        /**
         * Properties of a CmdKafkaSubscribe.
         * @typedef {Object} pubsub.CmdKafkaSubscribe.$Properties
         * @property {string|null} [topic] CmdKafkaSubscribe topic
         * @property {string|null} [topicPattern] CmdKafkaSubscribe topicPattern
         * @property {Array.<number>|null} [partitions] CmdKafkaSubscribe partitions
         * @property {pubsub.StartPosition|null} [start] CmdKafkaSubscribe start
         * @property {number|Long|null} [startValue] CmdKafkaSubscribe startValue
         * @property {string|null} [group] CmdKafkaSubscribe group
         * @property {Array.<pubsub.KafkaHeader.$Properties>|null} [matchHeaders] CmdKafkaSubscribe matchHeaders
         * @property {number|null} [maxInFlight] CmdKafkaSubscribe maxInFlight
         * @property {number|Long|null} [startEpoch] CmdKafkaSubscribe startEpoch
         * @property {string|null} [startPosition] CmdKafkaSubscribe startPosition
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdKafkaSubscribe.
         * @memberof pubsub
         * @interface ICmdKafkaSubscribe
         * @augments pubsub.CmdKafkaSubscribe.$Properties
         * @deprecated Use pubsub.CmdKafkaSubscribe.$Properties instead.
         */

        /**
         * Shape of a CmdKafkaSubscribe.
         * @typedef {pubsub.CmdKafkaSubscribe.$Properties} pubsub.CmdKafkaSubscribe.$Shape
         */

        /**
         * Constructs a new CmdKafkaSubscribe.
         * @memberof pubsub
         * @classdesc Represents a CmdKafkaSubscribe.
         * @constructor
         * @param {pubsub.CmdKafkaSubscribe.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdKafkaSubscribe = function (properties) {
            this.partitions = [];
            this.matchHeaders = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdKafkaSubscribe topic.
         * @member {string} topic
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.topic = "";

        /**
         * CmdKafkaSubscribe topicPattern.
         * @member {string} topicPattern
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.topicPattern = "";

        /**
         * CmdKafkaSubscribe partitions.
         * @member {Array.<number>} partitions
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.partitions = $util.emptyArray;

        /**
         * CmdKafkaSubscribe start.
         * @member {pubsub.StartPosition} start
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.start = 0;

        /**
         * CmdKafkaSubscribe startValue.
         * @member {number|Long} startValue
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.startValue = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * CmdKafkaSubscribe group.
         * @member {string} group
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.group = "";

        /**
         * CmdKafkaSubscribe matchHeaders.
         * @member {Array.<pubsub.KafkaHeader.$Properties>} matchHeaders
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.matchHeaders = $util.emptyArray;

        /**
         * CmdKafkaSubscribe maxInFlight.
         * @member {number} maxInFlight
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.maxInFlight = 0;

        /**
         * CmdKafkaSubscribe startEpoch.
         * @member {number|Long} startEpoch
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.startEpoch = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

        /**
         * CmdKafkaSubscribe startPosition.
         * @member {string} startPosition
         * @memberof pubsub.CmdKafkaSubscribe
         * @instance
         */
        CmdKafkaSubscribe.prototype.startPosition = "";

        /**
         * Creates a new CmdKafkaSubscribe instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdKafkaSubscribe
         * @static
         * @param {pubsub.CmdKafkaSubscribe.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdKafkaSubscribe} CmdKafkaSubscribe instance
         * @type {{
         *   (properties: pubsub.CmdKafkaSubscribe.$Shape): pubsub.CmdKafkaSubscribe & pubsub.CmdKafkaSubscribe.$Shape;
         *   (properties?: pubsub.CmdKafkaSubscribe.$Properties): pubsub.CmdKafkaSubscribe;
         * }}
         */
        CmdKafkaSubscribe.create = function(properties) {
            return new CmdKafkaSubscribe(properties);
        };

        /**
         * Encodes the specified CmdKafkaSubscribe message. Does not implicitly {@link pubsub.CmdKafkaSubscribe.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdKafkaSubscribe
         * @static
         * @param {pubsub.CmdKafkaSubscribe.$Properties} message CmdKafkaSubscribe message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdKafkaSubscribe.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.topic);
            if (message.topicPattern != null && $Object.hasOwnProperty.call(message, "topicPattern") && message.topicPattern !== "")
                writer.uint32(/* id 2, wireType 2 =*/18).string(message.topicPattern);
            if (message.partitions != null && message.partitions.length)
                writer.uint32(/* id 3, wireType 2 =*/26).int32s(message.partitions);
            if (message.start != null && $Object.hasOwnProperty.call(message, "start") && message.start !== 0)
                writer.uint32(/* id 4, wireType 0 =*/32).int32(message.start);
            if (message.startValue != null && $Object.hasOwnProperty.call(message, "startValue") && (typeof message.startValue === "object" ? message.startValue.low || message.startValue.high : message.startValue !== 0))
                writer.uint32(/* id 5, wireType 0 =*/40).int64(message.startValue);
            if (message.group != null && $Object.hasOwnProperty.call(message, "group") && message.group !== "")
                writer.uint32(/* id 6, wireType 2 =*/50).string(message.group);
            if (message.matchHeaders != null && message.matchHeaders.length)
                for (let i = 0; i < message.matchHeaders.length; ++i)
                    $root.pubsub.KafkaHeader.encode(message.matchHeaders[i], writer.uint32(/* id 7, wireType 2 =*/58).fork(), _depth + 1).ldelim();
            if (message.maxInFlight != null && $Object.hasOwnProperty.call(message, "maxInFlight") && message.maxInFlight !== 0)
                writer.uint32(/* id 8, wireType 0 =*/64).int32(message.maxInFlight);
            if (message.startEpoch != null && $Object.hasOwnProperty.call(message, "startEpoch") && (typeof message.startEpoch === "object" ? message.startEpoch.low || message.startEpoch.high : message.startEpoch !== 0))
                writer.uint32(/* id 9, wireType 0 =*/72).uint64(message.startEpoch);
            if (message.startPosition != null && $Object.hasOwnProperty.call(message, "startPosition") && message.startPosition !== "")
                writer.uint32(/* id 10, wireType 2 =*/82).string(message.startPosition);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdKafkaSubscribe message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdKafkaSubscribe
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaSubscribe & pubsub.CmdKafkaSubscribe.$Shape} CmdKafkaSubscribe
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdKafkaSubscribe.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdKafkaSubscribe();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topicPattern = value;
                        else
                            delete message.topicPattern;
                        continue;
                    }
                case 3: {
                        if (wireType === 2) {
                            if (!(message.partitions && message.partitions.length))
                                message.partitions = [];
                            reader.int32s(message.partitions);
                            continue;
                        }
                        if (wireType !== 0)
                            break;
                        if (!(message.partitions && message.partitions.length))
                            message.partitions = [];
                        message.partitions.push(reader.int32());
                        continue;
                    }
                case 4: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.start = value;
                        else
                            delete message.start;
                        continue;
                    }
                case 5: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.startValue = value;
                        else
                            delete message.startValue;
                        continue;
                    }
                case 6: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.group = value;
                        else
                            delete message.group;
                        continue;
                    }
                case 7: {
                        if (wireType !== 2)
                            break;
                        if (!(message.matchHeaders && message.matchHeaders.length))
                            message.matchHeaders = [];
                        message.matchHeaders.push($root.pubsub.KafkaHeader.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                case 8: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.maxInFlight = value;
                        else
                            delete message.maxInFlight;
                        continue;
                    }
                case 9: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                            message.startEpoch = value;
                        else
                            delete message.startEpoch;
                        continue;
                    }
                case 10: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.startPosition = value;
                        else
                            delete message.startPosition;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdKafkaSubscribe;
    })();

    pubsub.CmdUnsubscribe = (function() {

        /**
         * Properties of a CmdUnsubscribe.
         * @typedef {Object} pubsub.CmdUnsubscribe.$Properties
         * @property {number|Long|null} [subscriptionId] CmdUnsubscribe subscriptionId
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdUnsubscribe.
         * @memberof pubsub
         * @interface ICmdUnsubscribe
         * @augments pubsub.CmdUnsubscribe.$Properties
         * @deprecated Use pubsub.CmdUnsubscribe.$Properties instead.
         */

        /**
         * Shape of a CmdUnsubscribe.
         * @typedef {pubsub.CmdUnsubscribe.$Properties} pubsub.CmdUnsubscribe.$Shape
         */

        /**
         * Constructs a new CmdUnsubscribe.
         * @memberof pubsub
         * @classdesc Represents a CmdUnsubscribe.
         * @constructor
         * @param {pubsub.CmdUnsubscribe.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdUnsubscribe = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdUnsubscribe subscriptionId.
         * @member {number|Long} subscriptionId
         * @memberof pubsub.CmdUnsubscribe
         * @instance
         */
        CmdUnsubscribe.prototype.subscriptionId = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * Creates a new CmdUnsubscribe instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdUnsubscribe
         * @static
         * @param {pubsub.CmdUnsubscribe.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdUnsubscribe} CmdUnsubscribe instance
         * @type {{
         *   (properties: pubsub.CmdUnsubscribe.$Shape): pubsub.CmdUnsubscribe & pubsub.CmdUnsubscribe.$Shape;
         *   (properties?: pubsub.CmdUnsubscribe.$Properties): pubsub.CmdUnsubscribe;
         * }}
         */
        CmdUnsubscribe.create = function(properties) {
            return new CmdUnsubscribe(properties);
        };

        /**
         * Encodes the specified CmdUnsubscribe message. Does not implicitly {@link pubsub.CmdUnsubscribe.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdUnsubscribe
         * @static
         * @param {pubsub.CmdUnsubscribe.$Properties} message CmdUnsubscribe message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdUnsubscribe.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.subscriptionId != null && $Object.hasOwnProperty.call(message, "subscriptionId") && (typeof message.subscriptionId === "object" ? message.subscriptionId.low || message.subscriptionId.high : message.subscriptionId !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.subscriptionId);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdUnsubscribe message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdUnsubscribe
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdUnsubscribe & pubsub.CmdUnsubscribe.$Shape} CmdUnsubscribe
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdUnsubscribe.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdUnsubscribe();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.subscriptionId = value;
                        else
                            delete message.subscriptionId;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdUnsubscribe;
    })();

    pubsub.KafkaPartitionOffset = (function() {

        /**
         * Properties of a KafkaPartitionOffset.
         * @typedef {Object} pubsub.KafkaPartitionOffset.$Properties
         * @property {string|null} [topic] KafkaPartitionOffset topic
         * @property {number|null} [partition] KafkaPartitionOffset partition
         * @property {number|Long|null} [offset] KafkaPartitionOffset offset
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaPartitionOffset.
         * @memberof pubsub
         * @interface IKafkaPartitionOffset
         * @augments pubsub.KafkaPartitionOffset.$Properties
         * @deprecated Use pubsub.KafkaPartitionOffset.$Properties instead.
         */

        /**
         * Shape of a KafkaPartitionOffset.
         * @typedef {pubsub.KafkaPartitionOffset.$Properties} pubsub.KafkaPartitionOffset.$Shape
         */

        /**
         * Constructs a new KafkaPartitionOffset.
         * @memberof pubsub
         * @classdesc Represents a KafkaPartitionOffset.
         * @constructor
         * @param {pubsub.KafkaPartitionOffset.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaPartitionOffset = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaPartitionOffset topic.
         * @member {string} topic
         * @memberof pubsub.KafkaPartitionOffset
         * @instance
         */
        KafkaPartitionOffset.prototype.topic = "";

        /**
         * KafkaPartitionOffset partition.
         * @member {number} partition
         * @memberof pubsub.KafkaPartitionOffset
         * @instance
         */
        KafkaPartitionOffset.prototype.partition = 0;

        /**
         * KafkaPartitionOffset offset.
         * @member {number|Long} offset
         * @memberof pubsub.KafkaPartitionOffset
         * @instance
         */
        KafkaPartitionOffset.prototype.offset = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * Creates a new KafkaPartitionOffset instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaPartitionOffset
         * @static
         * @param {pubsub.KafkaPartitionOffset.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaPartitionOffset} KafkaPartitionOffset instance
         * @type {{
         *   (properties: pubsub.KafkaPartitionOffset.$Shape): pubsub.KafkaPartitionOffset & pubsub.KafkaPartitionOffset.$Shape;
         *   (properties?: pubsub.KafkaPartitionOffset.$Properties): pubsub.KafkaPartitionOffset;
         * }}
         */
        KafkaPartitionOffset.create = function(properties) {
            return new KafkaPartitionOffset(properties);
        };

        /**
         * Encodes the specified KafkaPartitionOffset message. Does not implicitly {@link pubsub.KafkaPartitionOffset.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaPartitionOffset
         * @static
         * @param {pubsub.KafkaPartitionOffset.$Properties} message KafkaPartitionOffset message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaPartitionOffset.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.topic);
            if (message.partition != null && $Object.hasOwnProperty.call(message, "partition") && message.partition !== 0)
                writer.uint32(/* id 2, wireType 0 =*/16).int32(message.partition);
            if (message.offset != null && $Object.hasOwnProperty.call(message, "offset") && (typeof message.offset === "object" ? message.offset.low || message.offset.high : message.offset !== 0))
                writer.uint32(/* id 3, wireType 0 =*/24).int64(message.offset);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaPartitionOffset message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaPartitionOffset
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaPartitionOffset & pubsub.KafkaPartitionOffset.$Shape} KafkaPartitionOffset
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaPartitionOffset.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaPartitionOffset();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.partition = value;
                        else
                            delete message.partition;
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.offset = value;
                        else
                            delete message.offset;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaPartitionOffset;
    })();

    pubsub.CmdKafkaCommit = (function() {

        /**
         * Properties of a CmdKafkaCommit.
         * @typedef {Object} pubsub.CmdKafkaCommit.$Properties
         * @property {number|Long|null} [subscriptionId] CmdKafkaCommit subscriptionId
         * @property {Array.<pubsub.KafkaPartitionOffset.$Properties>|null} [offsets] CmdKafkaCommit offsets
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdKafkaCommit.
         * @memberof pubsub
         * @interface ICmdKafkaCommit
         * @augments pubsub.CmdKafkaCommit.$Properties
         * @deprecated Use pubsub.CmdKafkaCommit.$Properties instead.
         */

        /**
         * Shape of a CmdKafkaCommit.
         * @typedef {pubsub.CmdKafkaCommit.$Properties} pubsub.CmdKafkaCommit.$Shape
         */

        /**
         * Constructs a new CmdKafkaCommit.
         * @memberof pubsub
         * @classdesc Represents a CmdKafkaCommit.
         * @constructor
         * @param {pubsub.CmdKafkaCommit.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdKafkaCommit = function (properties) {
            this.offsets = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdKafkaCommit subscriptionId.
         * @member {number|Long} subscriptionId
         * @memberof pubsub.CmdKafkaCommit
         * @instance
         */
        CmdKafkaCommit.prototype.subscriptionId = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * CmdKafkaCommit offsets.
         * @member {Array.<pubsub.KafkaPartitionOffset.$Properties>} offsets
         * @memberof pubsub.CmdKafkaCommit
         * @instance
         */
        CmdKafkaCommit.prototype.offsets = $util.emptyArray;

        /**
         * Creates a new CmdKafkaCommit instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdKafkaCommit
         * @static
         * @param {pubsub.CmdKafkaCommit.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdKafkaCommit} CmdKafkaCommit instance
         * @type {{
         *   (properties: pubsub.CmdKafkaCommit.$Shape): pubsub.CmdKafkaCommit & pubsub.CmdKafkaCommit.$Shape;
         *   (properties?: pubsub.CmdKafkaCommit.$Properties): pubsub.CmdKafkaCommit;
         * }}
         */
        CmdKafkaCommit.create = function(properties) {
            return new CmdKafkaCommit(properties);
        };

        /**
         * Encodes the specified CmdKafkaCommit message. Does not implicitly {@link pubsub.CmdKafkaCommit.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdKafkaCommit
         * @static
         * @param {pubsub.CmdKafkaCommit.$Properties} message CmdKafkaCommit message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdKafkaCommit.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.subscriptionId != null && $Object.hasOwnProperty.call(message, "subscriptionId") && (typeof message.subscriptionId === "object" ? message.subscriptionId.low || message.subscriptionId.high : message.subscriptionId !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.subscriptionId);
            if (message.offsets != null && message.offsets.length)
                for (let i = 0; i < message.offsets.length; ++i)
                    $root.pubsub.KafkaPartitionOffset.encode(message.offsets[i], writer.uint32(/* id 2, wireType 2 =*/18).fork(), _depth + 1).ldelim();
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdKafkaCommit message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdKafkaCommit
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaCommit & pubsub.CmdKafkaCommit.$Shape} CmdKafkaCommit
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdKafkaCommit.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdKafkaCommit();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.subscriptionId = value;
                        else
                            delete message.subscriptionId;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if (!(message.offsets && message.offsets.length))
                            message.offsets = [];
                        message.offsets.push($root.pubsub.KafkaPartitionOffset.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdKafkaCommit;
    })();

    pubsub.CmdKafkaMetadata = (function() {

        /**
         * Properties of a CmdKafkaMetadata.
         * @typedef {Object} pubsub.CmdKafkaMetadata.$Properties
         * @property {string|null} [topic] CmdKafkaMetadata topic
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdKafkaMetadata.
         * @memberof pubsub
         * @interface ICmdKafkaMetadata
         * @augments pubsub.CmdKafkaMetadata.$Properties
         * @deprecated Use pubsub.CmdKafkaMetadata.$Properties instead.
         */

        /**
         * Shape of a CmdKafkaMetadata.
         * @typedef {pubsub.CmdKafkaMetadata.$Properties} pubsub.CmdKafkaMetadata.$Shape
         */

        /**
         * Constructs a new CmdKafkaMetadata.
         * @memberof pubsub
         * @classdesc Represents a CmdKafkaMetadata.
         * @constructor
         * @param {pubsub.CmdKafkaMetadata.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdKafkaMetadata = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdKafkaMetadata topic.
         * @member {string} topic
         * @memberof pubsub.CmdKafkaMetadata
         * @instance
         */
        CmdKafkaMetadata.prototype.topic = "";

        /**
         * Creates a new CmdKafkaMetadata instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdKafkaMetadata
         * @static
         * @param {pubsub.CmdKafkaMetadata.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdKafkaMetadata} CmdKafkaMetadata instance
         * @type {{
         *   (properties: pubsub.CmdKafkaMetadata.$Shape): pubsub.CmdKafkaMetadata & pubsub.CmdKafkaMetadata.$Shape;
         *   (properties?: pubsub.CmdKafkaMetadata.$Properties): pubsub.CmdKafkaMetadata;
         * }}
         */
        CmdKafkaMetadata.create = function(properties) {
            return new CmdKafkaMetadata(properties);
        };

        /**
         * Encodes the specified CmdKafkaMetadata message. Does not implicitly {@link pubsub.CmdKafkaMetadata.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdKafkaMetadata
         * @static
         * @param {pubsub.CmdKafkaMetadata.$Properties} message CmdKafkaMetadata message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdKafkaMetadata.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.topic);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdKafkaMetadata message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdKafkaMetadata
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaMetadata & pubsub.CmdKafkaMetadata.$Shape} CmdKafkaMetadata
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdKafkaMetadata.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdKafkaMetadata();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdKafkaMetadata;
    })();

    pubsub.CmdRefresh = (function() {

        /**
         * Properties of a CmdRefresh.
         * @typedef {Object} pubsub.CmdRefresh.$Properties
         * @property {string|null} [token] CmdRefresh token
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdRefresh.
         * @memberof pubsub
         * @interface ICmdRefresh
         * @augments pubsub.CmdRefresh.$Properties
         * @deprecated Use pubsub.CmdRefresh.$Properties instead.
         */

        /**
         * Shape of a CmdRefresh.
         * @typedef {pubsub.CmdRefresh.$Properties} pubsub.CmdRefresh.$Shape
         */

        /**
         * Constructs a new CmdRefresh.
         * @memberof pubsub
         * @classdesc Represents a CmdRefresh.
         * @constructor
         * @param {pubsub.CmdRefresh.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdRefresh = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdRefresh token.
         * @member {string} token
         * @memberof pubsub.CmdRefresh
         * @instance
         */
        CmdRefresh.prototype.token = "";

        /**
         * Creates a new CmdRefresh instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdRefresh
         * @static
         * @param {pubsub.CmdRefresh.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdRefresh} CmdRefresh instance
         * @type {{
         *   (properties: pubsub.CmdRefresh.$Shape): pubsub.CmdRefresh & pubsub.CmdRefresh.$Shape;
         *   (properties?: pubsub.CmdRefresh.$Properties): pubsub.CmdRefresh;
         * }}
         */
        CmdRefresh.create = function(properties) {
            return new CmdRefresh(properties);
        };

        /**
         * Encodes the specified CmdRefresh message. Does not implicitly {@link pubsub.CmdRefresh.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdRefresh
         * @static
         * @param {pubsub.CmdRefresh.$Properties} message CmdRefresh message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdRefresh.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.token != null && $Object.hasOwnProperty.call(message, "token") && message.token !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.token);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdRefresh message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdRefresh
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdRefresh & pubsub.CmdRefresh.$Shape} CmdRefresh
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdRefresh.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdRefresh();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.token = value;
                        else
                            delete message.token;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdRefresh;
    })();

    pubsub.CmdRouteInfo = (function() {

        /**
         * Properties of a CmdRouteInfo.
         * @typedef {Object} pubsub.CmdRouteInfo.$Properties
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdRouteInfo.
         * @memberof pubsub
         * @interface ICmdRouteInfo
         * @augments pubsub.CmdRouteInfo.$Properties
         * @deprecated Use pubsub.CmdRouteInfo.$Properties instead.
         */

        /**
         * Shape of a CmdRouteInfo.
         * @typedef {pubsub.CmdRouteInfo.$Properties} pubsub.CmdRouteInfo.$Shape
         */

        /**
         * Constructs a new CmdRouteInfo.
         * @memberof pubsub
         * @classdesc Represents a CmdRouteInfo.
         * @constructor
         * @param {pubsub.CmdRouteInfo.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdRouteInfo = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * Creates a new CmdRouteInfo instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdRouteInfo
         * @static
         * @param {pubsub.CmdRouteInfo.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdRouteInfo} CmdRouteInfo instance
         * @type {{
         *   (properties: pubsub.CmdRouteInfo.$Shape): pubsub.CmdRouteInfo & pubsub.CmdRouteInfo.$Shape;
         *   (properties?: pubsub.CmdRouteInfo.$Properties): pubsub.CmdRouteInfo;
         * }}
         */
        CmdRouteInfo.create = function(properties) {
            return new CmdRouteInfo(properties);
        };

        /**
         * Encodes the specified CmdRouteInfo message. Does not implicitly {@link pubsub.CmdRouteInfo.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdRouteInfo
         * @static
         * @param {pubsub.CmdRouteInfo.$Properties} message CmdRouteInfo message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdRouteInfo.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdRouteInfo message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdRouteInfo
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdRouteInfo & pubsub.CmdRouteInfo.$Shape} CmdRouteInfo
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdRouteInfo.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdRouteInfo();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                reader.skipType(tag & 7, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdRouteInfo;
    })();

    pubsub.MessagePosition = (function() {

        /**
         * Properties of a MessagePosition.
         * @typedef {Object} pubsub.MessagePosition.$Properties
         * @property {string|null} [topic] MessagePosition topic
         * @property {number|null} [partition] MessagePosition partition
         * @property {number|Long|null} [offset] MessagePosition offset
         * @property {string|null} [position] MessagePosition position
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a MessagePosition.
         * @memberof pubsub
         * @interface IMessagePosition
         * @augments pubsub.MessagePosition.$Properties
         * @deprecated Use pubsub.MessagePosition.$Properties instead.
         */

        /**
         * Shape of a MessagePosition.
         * @typedef {pubsub.MessagePosition.$Properties} pubsub.MessagePosition.$Shape
         */

        /**
         * Constructs a new MessagePosition.
         * @memberof pubsub
         * @classdesc Represents a MessagePosition.
         * @constructor
         * @param {pubsub.MessagePosition.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const MessagePosition = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * MessagePosition topic.
         * @member {string} topic
         * @memberof pubsub.MessagePosition
         * @instance
         */
        MessagePosition.prototype.topic = "";

        /**
         * MessagePosition partition.
         * @member {number} partition
         * @memberof pubsub.MessagePosition
         * @instance
         */
        MessagePosition.prototype.partition = 0;

        /**
         * MessagePosition offset.
         * @member {number|Long} offset
         * @memberof pubsub.MessagePosition
         * @instance
         */
        MessagePosition.prototype.offset = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * MessagePosition position.
         * @member {string} position
         * @memberof pubsub.MessagePosition
         * @instance
         */
        MessagePosition.prototype.position = "";

        /**
         * Creates a new MessagePosition instance using the specified properties.
         * @function create
         * @memberof pubsub.MessagePosition
         * @static
         * @param {pubsub.MessagePosition.$Properties=} [properties] Properties to set
         * @returns {pubsub.MessagePosition} MessagePosition instance
         * @type {{
         *   (properties: pubsub.MessagePosition.$Shape): pubsub.MessagePosition & pubsub.MessagePosition.$Shape;
         *   (properties?: pubsub.MessagePosition.$Properties): pubsub.MessagePosition;
         * }}
         */
        MessagePosition.create = function(properties) {
            return new MessagePosition(properties);
        };

        /**
         * Encodes the specified MessagePosition message. Does not implicitly {@link pubsub.MessagePosition.verify|verify} messages.
         * @function encode
         * @memberof pubsub.MessagePosition
         * @static
         * @param {pubsub.MessagePosition.$Properties} message MessagePosition message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        MessagePosition.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.topic);
            if (message.partition != null && $Object.hasOwnProperty.call(message, "partition") && message.partition !== 0)
                writer.uint32(/* id 2, wireType 0 =*/16).int32(message.partition);
            if (message.offset != null && $Object.hasOwnProperty.call(message, "offset") && (typeof message.offset === "object" ? message.offset.low || message.offset.high : message.offset !== 0))
                writer.uint32(/* id 3, wireType 0 =*/24).int64(message.offset);
            if (message.position != null && $Object.hasOwnProperty.call(message, "position") && message.position !== "")
                writer.uint32(/* id 4, wireType 2 =*/34).string(message.position);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a MessagePosition message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.MessagePosition
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.MessagePosition & pubsub.MessagePosition.$Shape} MessagePosition
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        MessagePosition.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.MessagePosition();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.partition = value;
                        else
                            delete message.partition;
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.offset = value;
                        else
                            delete message.offset;
                        continue;
                    }
                case 4: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.position = value;
                        else
                            delete message.position;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return MessagePosition;
    })();

    pubsub.CmdAck = (function() {

        /**
         * Properties of a CmdAck.
         * @typedef {Object} pubsub.CmdAck.$Properties
         * @property {number|Long|null} [subscriptionId] CmdAck subscriptionId
         * @property {Array.<pubsub.MessagePosition.$Properties>|null} [positions] CmdAck positions
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdAck.
         * @memberof pubsub
         * @interface ICmdAck
         * @augments pubsub.CmdAck.$Properties
         * @deprecated Use pubsub.CmdAck.$Properties instead.
         */

        /**
         * Shape of a CmdAck.
         * @typedef {pubsub.CmdAck.$Properties} pubsub.CmdAck.$Shape
         */

        /**
         * Constructs a new CmdAck.
         * @memberof pubsub
         * @classdesc Represents a CmdAck.
         * @constructor
         * @param {pubsub.CmdAck.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdAck = function (properties) {
            this.positions = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdAck subscriptionId.
         * @member {number|Long} subscriptionId
         * @memberof pubsub.CmdAck
         * @instance
         */
        CmdAck.prototype.subscriptionId = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * CmdAck positions.
         * @member {Array.<pubsub.MessagePosition.$Properties>} positions
         * @memberof pubsub.CmdAck
         * @instance
         */
        CmdAck.prototype.positions = $util.emptyArray;

        /**
         * Creates a new CmdAck instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdAck
         * @static
         * @param {pubsub.CmdAck.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdAck} CmdAck instance
         * @type {{
         *   (properties: pubsub.CmdAck.$Shape): pubsub.CmdAck & pubsub.CmdAck.$Shape;
         *   (properties?: pubsub.CmdAck.$Properties): pubsub.CmdAck;
         * }}
         */
        CmdAck.create = function(properties) {
            return new CmdAck(properties);
        };

        /**
         * Encodes the specified CmdAck message. Does not implicitly {@link pubsub.CmdAck.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdAck
         * @static
         * @param {pubsub.CmdAck.$Properties} message CmdAck message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdAck.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.subscriptionId != null && $Object.hasOwnProperty.call(message, "subscriptionId") && (typeof message.subscriptionId === "object" ? message.subscriptionId.low || message.subscriptionId.high : message.subscriptionId !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.subscriptionId);
            if (message.positions != null && message.positions.length)
                for (let i = 0; i < message.positions.length; ++i)
                    $root.pubsub.MessagePosition.encode(message.positions[i], writer.uint32(/* id 2, wireType 2 =*/18).fork(), _depth + 1).ldelim();
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdAck message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdAck
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdAck & pubsub.CmdAck.$Shape} CmdAck
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdAck.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdAck();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.subscriptionId = value;
                        else
                            delete message.subscriptionId;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if (!(message.positions && message.positions.length))
                            message.positions = [];
                        message.positions.push($root.pubsub.MessagePosition.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdAck;
    })();

    pubsub.CmdNack = (function() {

        /**
         * Properties of a CmdNack.
         * @typedef {Object} pubsub.CmdNack.$Properties
         * @property {number|Long|null} [subscriptionId] CmdNack subscriptionId
         * @property {Array.<pubsub.MessagePosition.$Properties>|null} [positions] CmdNack positions
         * @property {number|Long|null} [delayMs] CmdNack delayMs
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a CmdNack.
         * @memberof pubsub
         * @interface ICmdNack
         * @augments pubsub.CmdNack.$Properties
         * @deprecated Use pubsub.CmdNack.$Properties instead.
         */

        /**
         * Shape of a CmdNack.
         * @typedef {pubsub.CmdNack.$Properties} pubsub.CmdNack.$Shape
         */

        /**
         * Constructs a new CmdNack.
         * @memberof pubsub
         * @classdesc Represents a CmdNack.
         * @constructor
         * @param {pubsub.CmdNack.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const CmdNack = function (properties) {
            this.positions = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * CmdNack subscriptionId.
         * @member {number|Long} subscriptionId
         * @memberof pubsub.CmdNack
         * @instance
         */
        CmdNack.prototype.subscriptionId = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * CmdNack positions.
         * @member {Array.<pubsub.MessagePosition.$Properties>} positions
         * @memberof pubsub.CmdNack
         * @instance
         */
        CmdNack.prototype.positions = $util.emptyArray;

        /**
         * CmdNack delayMs.
         * @member {number|Long} delayMs
         * @memberof pubsub.CmdNack
         * @instance
         */
        CmdNack.prototype.delayMs = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * Creates a new CmdNack instance using the specified properties.
         * @function create
         * @memberof pubsub.CmdNack
         * @static
         * @param {pubsub.CmdNack.$Properties=} [properties] Properties to set
         * @returns {pubsub.CmdNack} CmdNack instance
         * @type {{
         *   (properties: pubsub.CmdNack.$Shape): pubsub.CmdNack & pubsub.CmdNack.$Shape;
         *   (properties?: pubsub.CmdNack.$Properties): pubsub.CmdNack;
         * }}
         */
        CmdNack.create = function(properties) {
            return new CmdNack(properties);
        };

        /**
         * Encodes the specified CmdNack message. Does not implicitly {@link pubsub.CmdNack.verify|verify} messages.
         * @function encode
         * @memberof pubsub.CmdNack
         * @static
         * @param {pubsub.CmdNack.$Properties} message CmdNack message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        CmdNack.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.subscriptionId != null && $Object.hasOwnProperty.call(message, "subscriptionId") && (typeof message.subscriptionId === "object" ? message.subscriptionId.low || message.subscriptionId.high : message.subscriptionId !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.subscriptionId);
            if (message.positions != null && message.positions.length)
                for (let i = 0; i < message.positions.length; ++i)
                    $root.pubsub.MessagePosition.encode(message.positions[i], writer.uint32(/* id 2, wireType 2 =*/18).fork(), _depth + 1).ldelim();
            if (message.delayMs != null && $Object.hasOwnProperty.call(message, "delayMs") && (typeof message.delayMs === "object" ? message.delayMs.low || message.delayMs.high : message.delayMs !== 0))
                writer.uint32(/* id 3, wireType 0 =*/24).int64(message.delayMs);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a CmdNack message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.CmdNack
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.CmdNack & pubsub.CmdNack.$Shape} CmdNack
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        CmdNack.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.CmdNack();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.subscriptionId = value;
                        else
                            delete message.subscriptionId;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if (!(message.positions && message.positions.length))
                            message.positions = [];
                        message.positions.push($root.pubsub.MessagePosition.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.delayMs = value;
                        else
                            delete message.delayMs;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return CmdNack;
    })();

    pubsub.PubSubReq = (function() {

        /**
         * Properties of a PubSubReq.
         * @typedef {Object} pubsub.PubSubReq.$Properties
         * @property {number|Long|null} [sequence] PubSubReq sequence
         * @property {pubsub.CmdEmpty.$Properties|null} [cmdEmpty] PubSubReq cmdEmpty
         * @property {pubsub.CmdPing.$Properties|null} [cmdPing] PubSubReq cmdPing
         * @property {pubsub.CmdKafkaFetch.$Properties|null} [cmdKafkaFetch] PubSubReq cmdKafkaFetch
         * @property {pubsub.CmdKafkaListOffset.$Properties|null} [cmdKafkaListOffset] PubSubReq cmdKafkaListOffset
         * @property {pubsub.CmdKafkaProduce.$Properties|null} [cmdKafkaProduce] PubSubReq cmdKafkaProduce
         * @property {pubsub.CmdKafkaSubscribe.$Properties|null} [cmdKafkaSubscribe] PubSubReq cmdKafkaSubscribe
         * @property {pubsub.CmdUnsubscribe.$Properties|null} [cmdUnsubscribe] PubSubReq cmdUnsubscribe
         * @property {pubsub.CmdKafkaCommit.$Properties|null} [cmdKafkaCommit] PubSubReq cmdKafkaCommit
         * @property {pubsub.CmdKafkaMetadata.$Properties|null} [cmdKafkaMetadata] PubSubReq cmdKafkaMetadata
         * @property {pubsub.CmdRefresh.$Properties|null} [cmdRefresh] PubSubReq cmdRefresh
         * @property {pubsub.CmdRouteInfo.$Properties|null} [cmdRouteInfo] PubSubReq cmdRouteInfo
         * @property {pubsub.CmdAck.$Properties|null} [cmdAck] PubSubReq cmdAck
         * @property {pubsub.CmdNack.$Properties|null} [cmdNack] PubSubReq cmdNack
         * @property {"cmdEmpty"|"cmdPing"|"cmdKafkaFetch"|"cmdKafkaListOffset"|"cmdKafkaProduce"|"cmdKafkaSubscribe"|"cmdUnsubscribe"|"cmdKafkaCommit"|"cmdKafkaMetadata"|"cmdRefresh"|"cmdRouteInfo"|"cmdAck"|"cmdNack"} [req] PubSubReq req
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a PubSubReq.
         * @memberof pubsub
         * @interface IPubSubReq
         * @augments pubsub.PubSubReq.$Properties
         * @deprecated Use pubsub.PubSubReq.$Properties instead.
         */

        /**
         * Narrowed shape of a PubSubReq.
         * @typedef {{
         *   sequence?: number|Long|null;
         *   cmdEmpty?: pubsub.CmdEmpty.$Shape|null;
         *   cmdPing?: pubsub.CmdPing.$Shape|null;
         *   cmdKafkaFetch?: pubsub.CmdKafkaFetch.$Shape|null;
         *   cmdKafkaListOffset?: pubsub.CmdKafkaListOffset.$Shape|null;
         *   cmdKafkaProduce?: pubsub.CmdKafkaProduce.$Shape|null;
         *   cmdKafkaSubscribe?: pubsub.CmdKafkaSubscribe.$Shape|null;
         *   cmdUnsubscribe?: pubsub.CmdUnsubscribe.$Shape|null;
         *   cmdKafkaCommit?: pubsub.CmdKafkaCommit.$Shape|null;
         *   cmdKafkaMetadata?: pubsub.CmdKafkaMetadata.$Shape|null;
         *   cmdRefresh?: pubsub.CmdRefresh.$Shape|null;
         *   cmdRouteInfo?: pubsub.CmdRouteInfo.$Shape|null;
         *   cmdAck?: pubsub.CmdAck.$Shape|null;
         *   cmdNack?: pubsub.CmdNack.$Shape|null;
         *   $unknowns?: Array.<Uint8Array>;
         * } & (
         *   ({ req?: undefined; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdEmpty"; cmdEmpty: pubsub.CmdEmpty.$Shape; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdPing"; cmdEmpty?: null; cmdPing: pubsub.CmdPing.$Shape; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaFetch"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch: pubsub.CmdKafkaFetch.$Shape; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaListOffset"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset: pubsub.CmdKafkaListOffset.$Shape; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaProduce"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce: pubsub.CmdKafkaProduce.$Shape; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaSubscribe"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe: pubsub.CmdKafkaSubscribe.$Shape; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdUnsubscribe"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe: pubsub.CmdUnsubscribe.$Shape; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaCommit"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit: pubsub.CmdKafkaCommit.$Shape; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaMetadata"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata: pubsub.CmdKafkaMetadata.$Shape; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdRefresh"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh: pubsub.CmdRefresh.$Shape; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdRouteInfo"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo: pubsub.CmdRouteInfo.$Shape; cmdAck?: null; cmdNack?: null }|{ req?: "cmdAck"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck: pubsub.CmdAck.$Shape; cmdNack?: null }|{ req?: "cmdNack"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack: pubsub.CmdNack.$Shape })
         * )} pubsub.PubSubReq.$Shape
         */

        /**
         * Constructs a new PubSubReq.
         * @memberof pubsub
         * @classdesc Represents a PubSubReq.
         * @constructor
         * @param {pubsub.PubSubReq.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const PubSubReq = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * PubSubReq sequence.
         * @member {number|Long} sequence
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.sequence = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * PubSubReq cmdEmpty.
         * @member {pubsub.CmdEmpty.$Properties|null|undefined} cmdEmpty
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdEmpty = null;

        /**
         * PubSubReq cmdPing.
         * @member {pubsub.CmdPing.$Properties|null|undefined} cmdPing
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdPing = null;

        /**
         * PubSubReq cmdKafkaFetch.
         * @member {pubsub.CmdKafkaFetch.$Properties|null|undefined} cmdKafkaFetch
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdKafkaFetch = null;

        /**
         * PubSubReq cmdKafkaListOffset.
         * @member {pubsub.CmdKafkaListOffset.$Properties|null|undefined} cmdKafkaListOffset
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdKafkaListOffset = null;

        /**
         * PubSubReq cmdKafkaProduce.
         * @member {pubsub.CmdKafkaProduce.$Properties|null|undefined} cmdKafkaProduce
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdKafkaProduce = null;

        /**
         * PubSubReq cmdKafkaSubscribe.
         * @member {pubsub.CmdKafkaSubscribe.$Properties|null|undefined} cmdKafkaSubscribe
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdKafkaSubscribe = null;

        /**
         * PubSubReq cmdUnsubscribe.
         * @member {pubsub.CmdUnsubscribe.$Properties|null|undefined} cmdUnsubscribe
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdUnsubscribe = null;

        /**
         * PubSubReq cmdKafkaCommit.
         * @member {pubsub.CmdKafkaCommit.$Properties|null|undefined} cmdKafkaCommit
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdKafkaCommit = null;

        /**
         * PubSubReq cmdKafkaMetadata.
         * @member {pubsub.CmdKafkaMetadata.$Properties|null|undefined} cmdKafkaMetadata
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdKafkaMetadata = null;

        /**
         * PubSubReq cmdRefresh.
         * @member {pubsub.CmdRefresh.$Properties|null|undefined} cmdRefresh
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdRefresh = null;

        /**
         * PubSubReq cmdRouteInfo.
         * @member {pubsub.CmdRouteInfo.$Properties|null|undefined} cmdRouteInfo
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdRouteInfo = null;

        /**
         * PubSubReq cmdAck.
         * @member {pubsub.CmdAck.$Properties|null|undefined} cmdAck
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdAck = null;

        /**
         * PubSubReq cmdNack.
         * @member {pubsub.CmdNack.$Properties|null|undefined} cmdNack
         * @memberof pubsub.PubSubReq
         * @instance
         */
        PubSubReq.prototype.cmdNack = null;

        // OneOf field names bound to virtual getters and setters
        let $oneOfFields;

        /**
         * PubSubReq req.
         * @member {"cmdEmpty"|"cmdPing"|"cmdKafkaFetch"|"cmdKafkaListOffset"|"cmdKafkaProduce"|"cmdKafkaSubscribe"|"cmdUnsubscribe"|"cmdKafkaCommit"|"cmdKafkaMetadata"|"cmdRefresh"|"cmdRouteInfo"|"cmdAck"|"cmdNack"|undefined} req
         * @memberof pubsub.PubSubReq
         * @instance
         */
        $Object.defineProperty(PubSubReq.prototype, "req", {
            get: $util.oneOfGetter($oneOfFields = ["cmdEmpty", "cmdPing", "cmdKafkaFetch", "cmdKafkaListOffset", "cmdKafkaProduce", "cmdKafkaSubscribe", "cmdUnsubscribe", "cmdKafkaCommit", "cmdKafkaMetadata", "cmdRefresh", "cmdRouteInfo", "cmdAck", "cmdNack"]),
            set: $util.oneOfSetter($oneOfFields)
        });

        /**
         * Creates a new PubSubReq instance using the specified properties.
         * @function create
         * @memberof pubsub.PubSubReq
         * @static
         * @param {pubsub.PubSubReq.$Properties=} [properties] Properties to set
         * @returns {pubsub.PubSubReq} PubSubReq instance
         * @type {{
         *   (properties: pubsub.PubSubReq.$Shape): pubsub.PubSubReq & pubsub.PubSubReq.$Shape;
         *   (properties?: pubsub.PubSubReq.$Properties): pubsub.PubSubReq;
         * }}
         */
        PubSubReq.create = function(properties) {
            return new PubSubReq(properties);
        };

        /**
         * Encodes the specified PubSubReq message. Does not implicitly {@link pubsub.PubSubReq.verify|verify} messages.
         * @function encode
         * @memberof pubsub.PubSubReq
         * @static
         * @param {pubsub.PubSubReq.$Properties} message PubSubReq message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        PubSubReq.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.sequence != null && $Object.hasOwnProperty.call(message, "sequence") && (typeof message.sequence === "object" ? message.sequence.low || message.sequence.high : message.sequence !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.sequence);
            if (message.cmdEmpty != null && $Object.hasOwnProperty.call(message, "cmdEmpty"))
                $root.pubsub.CmdEmpty.encode(message.cmdEmpty, writer.uint32(/* id 31, wireType 2 =*/250).fork(), _depth + 1).ldelim();
            if (message.cmdPing != null && $Object.hasOwnProperty.call(message, "cmdPing"))
                $root.pubsub.CmdPing.encode(message.cmdPing, writer.uint32(/* id 32, wireType 2 =*/258).fork(), _depth + 1).ldelim();
            if (message.cmdKafkaFetch != null && $Object.hasOwnProperty.call(message, "cmdKafkaFetch"))
                $root.pubsub.CmdKafkaFetch.encode(message.cmdKafkaFetch, writer.uint32(/* id 33, wireType 2 =*/266).fork(), _depth + 1).ldelim();
            if (message.cmdKafkaListOffset != null && $Object.hasOwnProperty.call(message, "cmdKafkaListOffset"))
                $root.pubsub.CmdKafkaListOffset.encode(message.cmdKafkaListOffset, writer.uint32(/* id 34, wireType 2 =*/274).fork(), _depth + 1).ldelim();
            if (message.cmdKafkaProduce != null && $Object.hasOwnProperty.call(message, "cmdKafkaProduce"))
                $root.pubsub.CmdKafkaProduce.encode(message.cmdKafkaProduce, writer.uint32(/* id 35, wireType 2 =*/282).fork(), _depth + 1).ldelim();
            if (message.cmdKafkaSubscribe != null && $Object.hasOwnProperty.call(message, "cmdKafkaSubscribe"))
                $root.pubsub.CmdKafkaSubscribe.encode(message.cmdKafkaSubscribe, writer.uint32(/* id 36, wireType 2 =*/290).fork(), _depth + 1).ldelim();
            if (message.cmdUnsubscribe != null && $Object.hasOwnProperty.call(message, "cmdUnsubscribe"))
                $root.pubsub.CmdUnsubscribe.encode(message.cmdUnsubscribe, writer.uint32(/* id 37, wireType 2 =*/298).fork(), _depth + 1).ldelim();
            if (message.cmdKafkaCommit != null && $Object.hasOwnProperty.call(message, "cmdKafkaCommit"))
                $root.pubsub.CmdKafkaCommit.encode(message.cmdKafkaCommit, writer.uint32(/* id 38, wireType 2 =*/306).fork(), _depth + 1).ldelim();
            if (message.cmdKafkaMetadata != null && $Object.hasOwnProperty.call(message, "cmdKafkaMetadata"))
                $root.pubsub.CmdKafkaMetadata.encode(message.cmdKafkaMetadata, writer.uint32(/* id 39, wireType 2 =*/314).fork(), _depth + 1).ldelim();
            if (message.cmdRefresh != null && $Object.hasOwnProperty.call(message, "cmdRefresh"))
                $root.pubsub.CmdRefresh.encode(message.cmdRefresh, writer.uint32(/* id 40, wireType 2 =*/322).fork(), _depth + 1).ldelim();
            if (message.cmdRouteInfo != null && $Object.hasOwnProperty.call(message, "cmdRouteInfo"))
                $root.pubsub.CmdRouteInfo.encode(message.cmdRouteInfo, writer.uint32(/* id 41, wireType 2 =*/330).fork(), _depth + 1).ldelim();
            if (message.cmdAck != null && $Object.hasOwnProperty.call(message, "cmdAck"))
                $root.pubsub.CmdAck.encode(message.cmdAck, writer.uint32(/* id 42, wireType 2 =*/338).fork(), _depth + 1).ldelim();
            if (message.cmdNack != null && $Object.hasOwnProperty.call(message, "cmdNack"))
                $root.pubsub.CmdNack.encode(message.cmdNack, writer.uint32(/* id 43, wireType 2 =*/346).fork(), _depth + 1).ldelim();
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a PubSubReq message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.PubSubReq
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.PubSubReq & pubsub.PubSubReq.$Shape} PubSubReq
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        PubSubReq.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.PubSubReq();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.sequence = value;
                        else
                            delete message.sequence;
                        continue;
                    }
                case 31: {
                        if (wireType !== 2)
                            break;
                        message.cmdEmpty = $root.pubsub.CmdEmpty.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdEmpty);
                        message.req = "cmdEmpty";
                        continue;
                    }
                case 32: {
                        if (wireType !== 2)
                            break;
                        message.cmdPing = $root.pubsub.CmdPing.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdPing);
                        message.req = "cmdPing";
                        continue;
                    }
                case 33: {
                        if (wireType !== 2)
                            break;
                        message.cmdKafkaFetch = $root.pubsub.CmdKafkaFetch.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdKafkaFetch);
                        message.req = "cmdKafkaFetch";
                        continue;
                    }
                case 34: {
                        if (wireType !== 2)
                            break;
                        message.cmdKafkaListOffset = $root.pubsub.CmdKafkaListOffset.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdKafkaListOffset);
                        message.req = "cmdKafkaListOffset";
                        continue;
                    }
                case 35: {
                        if (wireType !== 2)
                            break;
                        message.cmdKafkaProduce = $root.pubsub.CmdKafkaProduce.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdKafkaProduce);
                        message.req = "cmdKafkaProduce";
                        continue;
                    }
                case 36: {
                        if (wireType !== 2)
                            break;
                        message.cmdKafkaSubscribe = $root.pubsub.CmdKafkaSubscribe.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdKafkaSubscribe);
                        message.req = "cmdKafkaSubscribe";
                        continue;
                    }
                case 37: {
                        if (wireType !== 2)
                            break;
                        message.cmdUnsubscribe = $root.pubsub.CmdUnsubscribe.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdUnsubscribe);
                        message.req = "cmdUnsubscribe";
                        continue;
                    }
                case 38: {
                        if (wireType !== 2)
                            break;
                        message.cmdKafkaCommit = $root.pubsub.CmdKafkaCommit.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdKafkaCommit);
                        message.req = "cmdKafkaCommit";
                        continue;
                    }
                case 39: {
                        if (wireType !== 2)
                            break;
                        message.cmdKafkaMetadata = $root.pubsub.CmdKafkaMetadata.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdKafkaMetadata);
                        message.req = "cmdKafkaMetadata";
                        continue;
                    }
                case 40: {
                        if (wireType !== 2)
                            break;
                        message.cmdRefresh = $root.pubsub.CmdRefresh.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdRefresh);
                        message.req = "cmdRefresh";
                        continue;
                    }
                case 41: {
                        if (wireType !== 2)
                            break;
                        message.cmdRouteInfo = $root.pubsub.CmdRouteInfo.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdRouteInfo);
                        message.req = "cmdRouteInfo";
                        continue;
                    }
                case 42: {
                        if (wireType !== 2)
                            break;
                        message.cmdAck = $root.pubsub.CmdAck.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdAck);
                        message.req = "cmdAck";
                        continue;
                    }
                case 43: {
                        if (wireType !== 2)
                            break;
                        message.cmdNack = $root.pubsub.CmdNack.decode(reader, reader.size(), $undefined, _depth + 1, message.cmdNack);
                        message.req = "cmdNack";
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return PubSubReq;
    })();

    pubsub.ErrorResp = (function() {

        /**
         * Properties of an ErrorResp.
         * @typedef {Object} pubsub.ErrorResp.$Properties
         * @property {number|null} [code] ErrorResp code
         * @property {string|null} [message] ErrorResp message
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of an ErrorResp.
         * @memberof pubsub
         * @interface IErrorResp
         * @augments pubsub.ErrorResp.$Properties
         * @deprecated Use pubsub.ErrorResp.$Properties instead.
         */

        /**
         * Shape of an ErrorResp.
         * @typedef {pubsub.ErrorResp.$Properties} pubsub.ErrorResp.$Shape
         */

        /**
         * Constructs a new ErrorResp.
         * @memberof pubsub
         * @classdesc Represents an ErrorResp.
         * @constructor
         * @param {pubsub.ErrorResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const ErrorResp = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * ErrorResp code.
         * @member {number} code
         * @memberof pubsub.ErrorResp
         * @instance
         */
        ErrorResp.prototype.code = 0;

        /**
         * ErrorResp message.
         * @member {string} message
         * @memberof pubsub.ErrorResp
         * @instance
         */
        ErrorResp.prototype.message = "";

        /**
         * Creates a new ErrorResp instance using the specified properties.
         * @function create
         * @memberof pubsub.ErrorResp
         * @static
         * @param {pubsub.ErrorResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.ErrorResp} ErrorResp instance
         * @type {{
         *   (properties: pubsub.ErrorResp.$Shape): pubsub.ErrorResp & pubsub.ErrorResp.$Shape;
         *   (properties?: pubsub.ErrorResp.$Properties): pubsub.ErrorResp;
         * }}
         */
        ErrorResp.create = function(properties) {
            return new ErrorResp(properties);
        };

        /**
         * Encodes the specified ErrorResp message. Does not implicitly {@link pubsub.ErrorResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.ErrorResp
         * @static
         * @param {pubsub.ErrorResp.$Properties} message ErrorResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        ErrorResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.code != null && $Object.hasOwnProperty.call(message, "code") && message.code !== 0)
                writer.uint32(/* id 1, wireType 0 =*/8).int32(message.code);
            if (message.message != null && $Object.hasOwnProperty.call(message, "message") && message.message !== "")
                writer.uint32(/* id 2, wireType 2 =*/18).string(message.message);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes an ErrorResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.ErrorResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.ErrorResp & pubsub.ErrorResp.$Shape} ErrorResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        ErrorResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.ErrorResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.code = value;
                        else
                            delete message.code;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.message = value;
                        else
                            delete message.message;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return ErrorResp;
    })();

    pubsub.PongResp = (function() {

        /**
         * Properties of a PongResp.
         * @typedef {Object} pubsub.PongResp.$Properties
         * @property {Uint8Array|null} [state] PongResp state
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a PongResp.
         * @memberof pubsub
         * @interface IPongResp
         * @augments pubsub.PongResp.$Properties
         * @deprecated Use pubsub.PongResp.$Properties instead.
         */

        /**
         * Shape of a PongResp.
         * @typedef {pubsub.PongResp.$Properties} pubsub.PongResp.$Shape
         */

        /**
         * Constructs a new PongResp.
         * @memberof pubsub
         * @classdesc Represents a PongResp.
         * @constructor
         * @param {pubsub.PongResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const PongResp = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * PongResp state.
         * @member {Uint8Array} state
         * @memberof pubsub.PongResp
         * @instance
         */
        PongResp.prototype.state = $util.newBuffer([]);

        /**
         * Creates a new PongResp instance using the specified properties.
         * @function create
         * @memberof pubsub.PongResp
         * @static
         * @param {pubsub.PongResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.PongResp} PongResp instance
         * @type {{
         *   (properties: pubsub.PongResp.$Shape): pubsub.PongResp & pubsub.PongResp.$Shape;
         *   (properties?: pubsub.PongResp.$Properties): pubsub.PongResp;
         * }}
         */
        PongResp.create = function(properties) {
            return new PongResp(properties);
        };

        /**
         * Encodes the specified PongResp message. Does not implicitly {@link pubsub.PongResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.PongResp
         * @static
         * @param {pubsub.PongResp.$Properties} message PongResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        PongResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.state != null && $Object.hasOwnProperty.call(message, "state") && message.state.length)
                writer.uint32(/* id 1, wireType 2 =*/10).bytes(message.state);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a PongResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.PongResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.PongResp & pubsub.PongResp.$Shape} PongResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        PongResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.PongResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.bytes()).length)
                            message.state = value;
                        else
                            delete message.state;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return PongResp;
    })();

    pubsub.KafkaMessage = (function() {

        /**
         * Properties of a KafkaMessage.
         * @typedef {Object} pubsub.KafkaMessage.$Properties
         * @property {number|Long|null} [offset] KafkaMessage offset
         * @property {number|Long|null} [timestamp] KafkaMessage timestamp
         * @property {Uint8Array|null} [key] KafkaMessage key
         * @property {Uint8Array|null} [value] KafkaMessage value
         * @property {Array.<pubsub.KafkaHeader.$Properties>|null} [headers] KafkaMessage headers
         * @property {number|null} [partition] KafkaMessage partition
         * @property {string|null} [topic] KafkaMessage topic
         * @property {string|null} [position] KafkaMessage position
         * @property {number|Long|null} [epoch] KafkaMessage epoch
         * @property {number|null} [deliveryAttempt] KafkaMessage deliveryAttempt
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaMessage.
         * @memberof pubsub
         * @interface IKafkaMessage
         * @augments pubsub.KafkaMessage.$Properties
         * @deprecated Use pubsub.KafkaMessage.$Properties instead.
         */

        /**
         * Shape of a KafkaMessage.
         * @typedef {pubsub.KafkaMessage.$Properties} pubsub.KafkaMessage.$Shape
         */

        /**
         * Constructs a new KafkaMessage.
         * @memberof pubsub
         * @classdesc Represents a KafkaMessage.
         * @constructor
         * @param {pubsub.KafkaMessage.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaMessage = function (properties) {
            this.headers = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaMessage offset.
         * @member {number|Long} offset
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.offset = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * KafkaMessage timestamp.
         * @member {number|Long} timestamp
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.timestamp = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * KafkaMessage key.
         * @member {Uint8Array} key
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.key = $util.newBuffer([]);

        /**
         * KafkaMessage value.
         * @member {Uint8Array} value
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.value = $util.newBuffer([]);

        /**
         * KafkaMessage headers.
         * @member {Array.<pubsub.KafkaHeader.$Properties>} headers
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.headers = $util.emptyArray;

        /**
         * KafkaMessage partition.
         * @member {number} partition
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.partition = 0;

        /**
         * KafkaMessage topic.
         * @member {string} topic
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.topic = "";

        /**
         * KafkaMessage position.
         * @member {string} position
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.position = "";

        /**
         * KafkaMessage epoch.
         * @member {number|Long} epoch
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.epoch = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

        /**
         * KafkaMessage deliveryAttempt.
         * @member {number} deliveryAttempt
         * @memberof pubsub.KafkaMessage
         * @instance
         */
        KafkaMessage.prototype.deliveryAttempt = 0;

        /**
         * Creates a new KafkaMessage instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaMessage
         * @static
         * @param {pubsub.KafkaMessage.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaMessage} KafkaMessage instance
         * @type {{
         *   (properties: pubsub.KafkaMessage.$Shape): pubsub.KafkaMessage & pubsub.KafkaMessage.$Shape;
         *   (properties?: pubsub.KafkaMessage.$Properties): pubsub.KafkaMessage;
         * }}
         */
        KafkaMessage.create = function(properties) {
            return new KafkaMessage(properties);
        };

        /**
         * Encodes the specified KafkaMessage message. Does not implicitly {@link pubsub.KafkaMessage.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaMessage
         * @static
         * @param {pubsub.KafkaMessage.$Properties} message KafkaMessage message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaMessage.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.offset != null && $Object.hasOwnProperty.call(message, "offset") && (typeof message.offset === "object" ? message.offset.low || message.offset.high : message.offset !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.offset);
            if (message.timestamp != null && $Object.hasOwnProperty.call(message, "timestamp") && (typeof message.timestamp === "object" ? message.timestamp.low || message.timestamp.high : message.timestamp !== 0))
                writer.uint32(/* id 2, wireType 0 =*/16).int64(message.timestamp);
            if (message.key != null && $Object.hasOwnProperty.call(message, "key") && message.key.length)
                writer.uint32(/* id 3, wireType 2 =*/26).bytes(message.key);
            if (message.value != null && $Object.hasOwnProperty.call(message, "value") && message.value.length)
                writer.uint32(/* id 4, wireType 2 =*/34).bytes(message.value);
            if (message.headers != null && message.headers.length)
                for (let i = 0; i < message.headers.length; ++i)
                    $root.pubsub.KafkaHeader.encode(message.headers[i], writer.uint32(/* id 5, wireType 2 =*/42).fork(), _depth + 1).ldelim();
            if (message.partition != null && $Object.hasOwnProperty.call(message, "partition") && message.partition !== 0)
                writer.uint32(/* id 6, wireType 0 =*/48).int32(message.partition);
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 7, wireType 2 =*/58).string(message.topic);
            if (message.position != null && $Object.hasOwnProperty.call(message, "position") && message.position !== "")
                writer.uint32(/* id 8, wireType 2 =*/66).string(message.position);
            if (message.epoch != null && $Object.hasOwnProperty.call(message, "epoch") && (typeof message.epoch === "object" ? message.epoch.low || message.epoch.high : message.epoch !== 0))
                writer.uint32(/* id 9, wireType 0 =*/72).uint64(message.epoch);
            if (message.deliveryAttempt != null && $Object.hasOwnProperty.call(message, "deliveryAttempt") && message.deliveryAttempt !== 0)
                writer.uint32(/* id 10, wireType 0 =*/80).uint32(message.deliveryAttempt);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaMessage message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaMessage
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaMessage & pubsub.KafkaMessage.$Shape} KafkaMessage
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaMessage.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaMessage();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.offset = value;
                        else
                            delete message.offset;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.timestamp = value;
                        else
                            delete message.timestamp;
                        continue;
                    }
                case 3: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.bytes()).length)
                            message.key = value;
                        else
                            delete message.key;
                        continue;
                    }
                case 4: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.bytes()).length)
                            message.value = value;
                        else
                            delete message.value;
                        continue;
                    }
                case 5: {
                        if (wireType !== 2)
                            break;
                        if (!(message.headers && message.headers.length))
                            message.headers = [];
                        message.headers.push($root.pubsub.KafkaHeader.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                case 6: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.partition = value;
                        else
                            delete message.partition;
                        continue;
                    }
                case 7: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                case 8: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.position = value;
                        else
                            delete message.position;
                        continue;
                    }
                case 9: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                            message.epoch = value;
                        else
                            delete message.epoch;
                        continue;
                    }
                case 10: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.uint32())
                            message.deliveryAttempt = value;
                        else
                            delete message.deliveryAttempt;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaMessage;
    })();

    pubsub.KafkaFetchResp = (function() {

        /**
         * Properties of a KafkaFetchResp.
         * @typedef {Object} pubsub.KafkaFetchResp.$Properties
         * @property {Array.<pubsub.KafkaMessage.$Properties>|null} [messages] KafkaFetchResp messages
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaFetchResp.
         * @memberof pubsub
         * @interface IKafkaFetchResp
         * @augments pubsub.KafkaFetchResp.$Properties
         * @deprecated Use pubsub.KafkaFetchResp.$Properties instead.
         */

        /**
         * Shape of a KafkaFetchResp.
         * @typedef {pubsub.KafkaFetchResp.$Properties} pubsub.KafkaFetchResp.$Shape
         */

        /**
         * Constructs a new KafkaFetchResp.
         * @memberof pubsub
         * @classdesc Represents a KafkaFetchResp.
         * @constructor
         * @param {pubsub.KafkaFetchResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaFetchResp = function (properties) {
            this.messages = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaFetchResp messages.
         * @member {Array.<pubsub.KafkaMessage.$Properties>} messages
         * @memberof pubsub.KafkaFetchResp
         * @instance
         */
        KafkaFetchResp.prototype.messages = $util.emptyArray;

        /**
         * Creates a new KafkaFetchResp instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaFetchResp
         * @static
         * @param {pubsub.KafkaFetchResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaFetchResp} KafkaFetchResp instance
         * @type {{
         *   (properties: pubsub.KafkaFetchResp.$Shape): pubsub.KafkaFetchResp & pubsub.KafkaFetchResp.$Shape;
         *   (properties?: pubsub.KafkaFetchResp.$Properties): pubsub.KafkaFetchResp;
         * }}
         */
        KafkaFetchResp.create = function(properties) {
            return new KafkaFetchResp(properties);
        };

        /**
         * Encodes the specified KafkaFetchResp message. Does not implicitly {@link pubsub.KafkaFetchResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaFetchResp
         * @static
         * @param {pubsub.KafkaFetchResp.$Properties} message KafkaFetchResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaFetchResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.messages != null && message.messages.length)
                for (let i = 0; i < message.messages.length; ++i)
                    $root.pubsub.KafkaMessage.encode(message.messages[i], writer.uint32(/* id 1, wireType 2 =*/10).fork(), _depth + 1).ldelim();
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaFetchResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaFetchResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaFetchResp & pubsub.KafkaFetchResp.$Shape} KafkaFetchResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaFetchResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaFetchResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if (!(message.messages && message.messages.length))
                            message.messages = [];
                        message.messages.push($root.pubsub.KafkaMessage.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaFetchResp;
    })();

    pubsub.KafkaListOffsetResp = (function() {

        /**
         * Properties of a KafkaListOffsetResp.
         * @typedef {Object} pubsub.KafkaListOffsetResp.$Properties
         * @property {number|Long|null} [offset] KafkaListOffsetResp offset
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaListOffsetResp.
         * @memberof pubsub
         * @interface IKafkaListOffsetResp
         * @augments pubsub.KafkaListOffsetResp.$Properties
         * @deprecated Use pubsub.KafkaListOffsetResp.$Properties instead.
         */

        /**
         * Shape of a KafkaListOffsetResp.
         * @typedef {pubsub.KafkaListOffsetResp.$Properties} pubsub.KafkaListOffsetResp.$Shape
         */

        /**
         * Constructs a new KafkaListOffsetResp.
         * @memberof pubsub
         * @classdesc Represents a KafkaListOffsetResp.
         * @constructor
         * @param {pubsub.KafkaListOffsetResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaListOffsetResp = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaListOffsetResp offset.
         * @member {number|Long} offset
         * @memberof pubsub.KafkaListOffsetResp
         * @instance
         */
        KafkaListOffsetResp.prototype.offset = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * Creates a new KafkaListOffsetResp instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaListOffsetResp
         * @static
         * @param {pubsub.KafkaListOffsetResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaListOffsetResp} KafkaListOffsetResp instance
         * @type {{
         *   (properties: pubsub.KafkaListOffsetResp.$Shape): pubsub.KafkaListOffsetResp & pubsub.KafkaListOffsetResp.$Shape;
         *   (properties?: pubsub.KafkaListOffsetResp.$Properties): pubsub.KafkaListOffsetResp;
         * }}
         */
        KafkaListOffsetResp.create = function(properties) {
            return new KafkaListOffsetResp(properties);
        };

        /**
         * Encodes the specified KafkaListOffsetResp message. Does not implicitly {@link pubsub.KafkaListOffsetResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaListOffsetResp
         * @static
         * @param {pubsub.KafkaListOffsetResp.$Properties} message KafkaListOffsetResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaListOffsetResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.offset != null && $Object.hasOwnProperty.call(message, "offset") && (typeof message.offset === "object" ? message.offset.low || message.offset.high : message.offset !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.offset);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaListOffsetResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaListOffsetResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaListOffsetResp & pubsub.KafkaListOffsetResp.$Shape} KafkaListOffsetResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaListOffsetResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaListOffsetResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.offset = value;
                        else
                            delete message.offset;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaListOffsetResp;
    })();

    pubsub.KafkaProduceResp = (function() {

        /**
         * Properties of a KafkaProduceResp.
         * @typedef {Object} pubsub.KafkaProduceResp.$Properties
         * @property {number|null} [partition] KafkaProduceResp partition
         * @property {number|Long|null} [offset] KafkaProduceResp offset
         * @property {string|null} [position] KafkaProduceResp position
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaProduceResp.
         * @memberof pubsub
         * @interface IKafkaProduceResp
         * @augments pubsub.KafkaProduceResp.$Properties
         * @deprecated Use pubsub.KafkaProduceResp.$Properties instead.
         */

        /**
         * Shape of a KafkaProduceResp.
         * @typedef {pubsub.KafkaProduceResp.$Properties} pubsub.KafkaProduceResp.$Shape
         */

        /**
         * Constructs a new KafkaProduceResp.
         * @memberof pubsub
         * @classdesc Represents a KafkaProduceResp.
         * @constructor
         * @param {pubsub.KafkaProduceResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaProduceResp = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaProduceResp partition.
         * @member {number} partition
         * @memberof pubsub.KafkaProduceResp
         * @instance
         */
        KafkaProduceResp.prototype.partition = 0;

        /**
         * KafkaProduceResp offset.
         * @member {number|Long} offset
         * @memberof pubsub.KafkaProduceResp
         * @instance
         */
        KafkaProduceResp.prototype.offset = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * KafkaProduceResp position.
         * @member {string} position
         * @memberof pubsub.KafkaProduceResp
         * @instance
         */
        KafkaProduceResp.prototype.position = "";

        /**
         * Creates a new KafkaProduceResp instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaProduceResp
         * @static
         * @param {pubsub.KafkaProduceResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaProduceResp} KafkaProduceResp instance
         * @type {{
         *   (properties: pubsub.KafkaProduceResp.$Shape): pubsub.KafkaProduceResp & pubsub.KafkaProduceResp.$Shape;
         *   (properties?: pubsub.KafkaProduceResp.$Properties): pubsub.KafkaProduceResp;
         * }}
         */
        KafkaProduceResp.create = function(properties) {
            return new KafkaProduceResp(properties);
        };

        /**
         * Encodes the specified KafkaProduceResp message. Does not implicitly {@link pubsub.KafkaProduceResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaProduceResp
         * @static
         * @param {pubsub.KafkaProduceResp.$Properties} message KafkaProduceResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaProduceResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.partition != null && $Object.hasOwnProperty.call(message, "partition") && message.partition !== 0)
                writer.uint32(/* id 1, wireType 0 =*/8).int32(message.partition);
            if (message.offset != null && $Object.hasOwnProperty.call(message, "offset") && (typeof message.offset === "object" ? message.offset.low || message.offset.high : message.offset !== 0))
                writer.uint32(/* id 2, wireType 0 =*/16).int64(message.offset);
            if (message.position != null && $Object.hasOwnProperty.call(message, "position") && message.position !== "")
                writer.uint32(/* id 3, wireType 2 =*/26).string(message.position);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaProduceResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaProduceResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaProduceResp & pubsub.KafkaProduceResp.$Shape} KafkaProduceResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaProduceResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaProduceResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.partition = value;
                        else
                            delete message.partition;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.offset = value;
                        else
                            delete message.offset;
                        continue;
                    }
                case 3: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.position = value;
                        else
                            delete message.position;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaProduceResp;
    })();

    pubsub.KafkaSubscribeResp = (function() {

        /**
         * Properties of a KafkaSubscribeResp.
         * @typedef {Object} pubsub.KafkaSubscribeResp.$Properties
         * @property {number|Long|null} [subscriptionId] KafkaSubscribeResp subscriptionId
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaSubscribeResp.
         * @memberof pubsub
         * @interface IKafkaSubscribeResp
         * @augments pubsub.KafkaSubscribeResp.$Properties
         * @deprecated Use pubsub.KafkaSubscribeResp.$Properties instead.
         */

        /**
         * Shape of a KafkaSubscribeResp.
         * @typedef {pubsub.KafkaSubscribeResp.$Properties} pubsub.KafkaSubscribeResp.$Shape
         */

        /**
         * Constructs a new KafkaSubscribeResp.
         * @memberof pubsub
         * @classdesc Represents a KafkaSubscribeResp.
         * @constructor
         * @param {pubsub.KafkaSubscribeResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaSubscribeResp = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaSubscribeResp subscriptionId.
         * @member {number|Long} subscriptionId
         * @memberof pubsub.KafkaSubscribeResp
         * @instance
         */
        KafkaSubscribeResp.prototype.subscriptionId = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * Creates a new KafkaSubscribeResp instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaSubscribeResp
         * @static
         * @param {pubsub.KafkaSubscribeResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaSubscribeResp} KafkaSubscribeResp instance
         * @type {{
         *   (properties: pubsub.KafkaSubscribeResp.$Shape): pubsub.KafkaSubscribeResp & pubsub.KafkaSubscribeResp.$Shape;
         *   (properties?: pubsub.KafkaSubscribeResp.$Properties): pubsub.KafkaSubscribeResp;
         * }}
         */
        KafkaSubscribeResp.create = function(properties) {
            return new KafkaSubscribeResp(properties);
        };

        /**
         * Encodes the specified KafkaSubscribeResp message. Does not implicitly {@link pubsub.KafkaSubscribeResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaSubscribeResp
         * @static
         * @param {pubsub.KafkaSubscribeResp.$Properties} message KafkaSubscribeResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaSubscribeResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.subscriptionId != null && $Object.hasOwnProperty.call(message, "subscriptionId") && (typeof message.subscriptionId === "object" ? message.subscriptionId.low || message.subscriptionId.high : message.subscriptionId !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.subscriptionId);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaSubscribeResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaSubscribeResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaSubscribeResp & pubsub.KafkaSubscribeResp.$Shape} KafkaSubscribeResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaSubscribeResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaSubscribeResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.subscriptionId = value;
                        else
                            delete message.subscriptionId;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaSubscribeResp;
    })();

    pubsub.KafkaPush = (function() {

        /**
         * Properties of a KafkaPush.
         * @typedef {Object} pubsub.KafkaPush.$Properties
         * @property {number|Long|null} [subscriptionId] KafkaPush subscriptionId
         * @property {Array.<pubsub.KafkaMessage.$Properties>|null} [messages] KafkaPush messages
         * @property {boolean|null} [reset] KafkaPush reset
         * @property {number|Long|null} [dropped] KafkaPush dropped
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaPush.
         * @memberof pubsub
         * @interface IKafkaPush
         * @augments pubsub.KafkaPush.$Properties
         * @deprecated Use pubsub.KafkaPush.$Properties instead.
         */

        /**
         * Shape of a KafkaPush.
         * @typedef {pubsub.KafkaPush.$Properties} pubsub.KafkaPush.$Shape
         */

        /**
         * Constructs a new KafkaPush.
         * @memberof pubsub
         * @classdesc Represents a KafkaPush.
         * @constructor
         * @param {pubsub.KafkaPush.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaPush = function (properties) {
            this.messages = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaPush subscriptionId.
         * @member {number|Long} subscriptionId
         * @memberof pubsub.KafkaPush
         * @instance
         */
        KafkaPush.prototype.subscriptionId = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * KafkaPush messages.
         * @member {Array.<pubsub.KafkaMessage.$Properties>} messages
         * @memberof pubsub.KafkaPush
         * @instance
         */
        KafkaPush.prototype.messages = $util.emptyArray;

        /**
         * KafkaPush reset.
         * @member {boolean} reset
         * @memberof pubsub.KafkaPush
         * @instance
         */
        KafkaPush.prototype.reset = false;

        /**
         * KafkaPush dropped.
         * @member {number|Long} dropped
         * @memberof pubsub.KafkaPush
         * @instance
         */
        KafkaPush.prototype.dropped = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

        /**
         * Creates a new KafkaPush instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaPush
         * @static
         * @param {pubsub.KafkaPush.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaPush} KafkaPush instance
         * @type {{
         *   (properties: pubsub.KafkaPush.$Shape): pubsub.KafkaPush & pubsub.KafkaPush.$Shape;
         *   (properties?: pubsub.KafkaPush.$Properties): pubsub.KafkaPush;
         * }}
         */
        KafkaPush.create = function(properties) {
            return new KafkaPush(properties);
        };

        /**
         * Encodes the specified KafkaPush message. Does not implicitly {@link pubsub.KafkaPush.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaPush
         * @static
         * @param {pubsub.KafkaPush.$Properties} message KafkaPush message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaPush.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.subscriptionId != null && $Object.hasOwnProperty.call(message, "subscriptionId") && (typeof message.subscriptionId === "object" ? message.subscriptionId.low || message.subscriptionId.high : message.subscriptionId !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.subscriptionId);
            if (message.messages != null && message.messages.length)
                for (let i = 0; i < message.messages.length; ++i)
                    $root.pubsub.KafkaMessage.encode(message.messages[i], writer.uint32(/* id 2, wireType 2 =*/18).fork(), _depth + 1).ldelim();
            if (message.reset != null && $Object.hasOwnProperty.call(message, "reset") && message.reset !== false)
                writer.uint32(/* id 3, wireType 0 =*/24).bool(message.reset);
            if (message.dropped != null && $Object.hasOwnProperty.call(message, "dropped") && (typeof message.dropped === "object" ? message.dropped.low || message.dropped.high : message.dropped !== 0))
                writer.uint32(/* id 4, wireType 0 =*/32).uint64(message.dropped);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaPush message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaPush
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaPush & pubsub.KafkaPush.$Shape} KafkaPush
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaPush.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaPush();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.subscriptionId = value;
                        else
                            delete message.subscriptionId;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if (!(message.messages && message.messages.length))
                            message.messages = [];
                        message.messages.push($root.pubsub.KafkaMessage.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.reset = value;
                        else
                            delete message.reset;
                        continue;
                    }
                case 4: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                            message.dropped = value;
                        else
                            delete message.dropped;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaPush;
    })();

    pubsub.OkResp = (function() {

        /**
         * Properties of an OkResp.
         * @typedef {Object} pubsub.OkResp.$Properties
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of an OkResp.
         * @memberof pubsub
         * @interface IOkResp
         * @augments pubsub.OkResp.$Properties
         * @deprecated Use pubsub.OkResp.$Properties instead.
         */

        /**
         * Shape of an OkResp.
         * @typedef {pubsub.OkResp.$Properties} pubsub.OkResp.$Shape
         */

        /**
         * Constructs a new OkResp.
         * @memberof pubsub
         * @classdesc Represents an OkResp.
         * @constructor
         * @param {pubsub.OkResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const OkResp = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * Creates a new OkResp instance using the specified properties.
         * @function create
         * @memberof pubsub.OkResp
         * @static
         * @param {pubsub.OkResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.OkResp} OkResp instance
         * @type {{
         *   (properties: pubsub.OkResp.$Shape): pubsub.OkResp & pubsub.OkResp.$Shape;
         *   (properties?: pubsub.OkResp.$Properties): pubsub.OkResp;
         * }}
         */
        OkResp.create = function(properties) {
            return new OkResp(properties);
        };

        /**
         * Encodes the specified OkResp message. Does not implicitly {@link pubsub.OkResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.OkResp
         * @static
         * @param {pubsub.OkResp.$Properties} message OkResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        OkResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes an OkResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.OkResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.OkResp & pubsub.OkResp.$Shape} OkResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        OkResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.OkResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                reader.skipType(tag & 7, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return OkResp;
    })();

    pubsub.KafkaPartitionInfo = (function() {

        /**
         * Properties of a KafkaPartitionInfo.
         * @typedef {Object} pubsub.KafkaPartitionInfo.$Properties
         * @property {number|null} [partition] KafkaPartitionInfo partition
         * @property {number|Long|null} [earliest] KafkaPartitionInfo earliest
         * @property {number|Long|null} [latest] KafkaPartitionInfo latest
         * @property {number|Long|null} [epoch] KafkaPartitionInfo epoch
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaPartitionInfo.
         * @memberof pubsub
         * @interface IKafkaPartitionInfo
         * @augments pubsub.KafkaPartitionInfo.$Properties
         * @deprecated Use pubsub.KafkaPartitionInfo.$Properties instead.
         */

        /**
         * Shape of a KafkaPartitionInfo.
         * @typedef {pubsub.KafkaPartitionInfo.$Properties} pubsub.KafkaPartitionInfo.$Shape
         */

        /**
         * Constructs a new KafkaPartitionInfo.
         * @memberof pubsub
         * @classdesc Represents a KafkaPartitionInfo.
         * @constructor
         * @param {pubsub.KafkaPartitionInfo.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaPartitionInfo = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaPartitionInfo partition.
         * @member {number} partition
         * @memberof pubsub.KafkaPartitionInfo
         * @instance
         */
        KafkaPartitionInfo.prototype.partition = 0;

        /**
         * KafkaPartitionInfo earliest.
         * @member {number|Long} earliest
         * @memberof pubsub.KafkaPartitionInfo
         * @instance
         */
        KafkaPartitionInfo.prototype.earliest = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * KafkaPartitionInfo latest.
         * @member {number|Long} latest
         * @memberof pubsub.KafkaPartitionInfo
         * @instance
         */
        KafkaPartitionInfo.prototype.latest = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * KafkaPartitionInfo epoch.
         * @member {number|Long} epoch
         * @memberof pubsub.KafkaPartitionInfo
         * @instance
         */
        KafkaPartitionInfo.prototype.epoch = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

        /**
         * Creates a new KafkaPartitionInfo instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaPartitionInfo
         * @static
         * @param {pubsub.KafkaPartitionInfo.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaPartitionInfo} KafkaPartitionInfo instance
         * @type {{
         *   (properties: pubsub.KafkaPartitionInfo.$Shape): pubsub.KafkaPartitionInfo & pubsub.KafkaPartitionInfo.$Shape;
         *   (properties?: pubsub.KafkaPartitionInfo.$Properties): pubsub.KafkaPartitionInfo;
         * }}
         */
        KafkaPartitionInfo.create = function(properties) {
            return new KafkaPartitionInfo(properties);
        };

        /**
         * Encodes the specified KafkaPartitionInfo message. Does not implicitly {@link pubsub.KafkaPartitionInfo.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaPartitionInfo
         * @static
         * @param {pubsub.KafkaPartitionInfo.$Properties} message KafkaPartitionInfo message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaPartitionInfo.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.partition != null && $Object.hasOwnProperty.call(message, "partition") && message.partition !== 0)
                writer.uint32(/* id 1, wireType 0 =*/8).int32(message.partition);
            if (message.earliest != null && $Object.hasOwnProperty.call(message, "earliest") && (typeof message.earliest === "object" ? message.earliest.low || message.earliest.high : message.earliest !== 0))
                writer.uint32(/* id 2, wireType 0 =*/16).int64(message.earliest);
            if (message.latest != null && $Object.hasOwnProperty.call(message, "latest") && (typeof message.latest === "object" ? message.latest.low || message.latest.high : message.latest !== 0))
                writer.uint32(/* id 3, wireType 0 =*/24).int64(message.latest);
            if (message.epoch != null && $Object.hasOwnProperty.call(message, "epoch") && (typeof message.epoch === "object" ? message.epoch.low || message.epoch.high : message.epoch !== 0))
                writer.uint32(/* id 4, wireType 0 =*/32).uint64(message.epoch);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaPartitionInfo message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaPartitionInfo
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaPartitionInfo & pubsub.KafkaPartitionInfo.$Shape} KafkaPartitionInfo
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaPartitionInfo.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaPartitionInfo();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.int32())
                            message.partition = value;
                        else
                            delete message.partition;
                        continue;
                    }
                case 2: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.earliest = value;
                        else
                            delete message.earliest;
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.latest = value;
                        else
                            delete message.latest;
                        continue;
                    }
                case 4: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                            message.epoch = value;
                        else
                            delete message.epoch;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaPartitionInfo;
    })();

    pubsub.KafkaMetadataResp = (function() {

        /**
         * Properties of a KafkaMetadataResp.
         * @typedef {Object} pubsub.KafkaMetadataResp.$Properties
         * @property {string|null} [topic] KafkaMetadataResp topic
         * @property {Array.<pubsub.KafkaPartitionInfo.$Properties>|null} [partitions] KafkaMetadataResp partitions
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a KafkaMetadataResp.
         * @memberof pubsub
         * @interface IKafkaMetadataResp
         * @augments pubsub.KafkaMetadataResp.$Properties
         * @deprecated Use pubsub.KafkaMetadataResp.$Properties instead.
         */

        /**
         * Shape of a KafkaMetadataResp.
         * @typedef {pubsub.KafkaMetadataResp.$Properties} pubsub.KafkaMetadataResp.$Shape
         */

        /**
         * Constructs a new KafkaMetadataResp.
         * @memberof pubsub
         * @classdesc Represents a KafkaMetadataResp.
         * @constructor
         * @param {pubsub.KafkaMetadataResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const KafkaMetadataResp = function (properties) {
            this.partitions = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * KafkaMetadataResp topic.
         * @member {string} topic
         * @memberof pubsub.KafkaMetadataResp
         * @instance
         */
        KafkaMetadataResp.prototype.topic = "";

        /**
         * KafkaMetadataResp partitions.
         * @member {Array.<pubsub.KafkaPartitionInfo.$Properties>} partitions
         * @memberof pubsub.KafkaMetadataResp
         * @instance
         */
        KafkaMetadataResp.prototype.partitions = $util.emptyArray;

        /**
         * Creates a new KafkaMetadataResp instance using the specified properties.
         * @function create
         * @memberof pubsub.KafkaMetadataResp
         * @static
         * @param {pubsub.KafkaMetadataResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.KafkaMetadataResp} KafkaMetadataResp instance
         * @type {{
         *   (properties: pubsub.KafkaMetadataResp.$Shape): pubsub.KafkaMetadataResp & pubsub.KafkaMetadataResp.$Shape;
         *   (properties?: pubsub.KafkaMetadataResp.$Properties): pubsub.KafkaMetadataResp;
         * }}
         */
        KafkaMetadataResp.create = function(properties) {
            return new KafkaMetadataResp(properties);
        };

        /**
         * Encodes the specified KafkaMetadataResp message. Does not implicitly {@link pubsub.KafkaMetadataResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.KafkaMetadataResp
         * @static
         * @param {pubsub.KafkaMetadataResp.$Properties} message KafkaMetadataResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        KafkaMetadataResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.topic != null && $Object.hasOwnProperty.call(message, "topic") && message.topic !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.topic);
            if (message.partitions != null && message.partitions.length)
                for (let i = 0; i < message.partitions.length; ++i)
                    $root.pubsub.KafkaPartitionInfo.encode(message.partitions[i], writer.uint32(/* id 2, wireType 2 =*/18).fork(), _depth + 1).ldelim();
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a KafkaMetadataResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.KafkaMetadataResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.KafkaMetadataResp & pubsub.KafkaMetadataResp.$Shape} KafkaMetadataResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        KafkaMetadataResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.KafkaMetadataResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.topic = value;
                        else
                            delete message.topic;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if (!(message.partitions && message.partitions.length))
                            message.partitions = [];
                        message.partitions.push($root.pubsub.KafkaPartitionInfo.decode(reader, reader.size(), $undefined, _depth + 1));
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return KafkaMetadataResp;
    })();

    pubsub.RouteCapabilities = (function() {

        /**
         * Properties of a RouteCapabilities.
         * @typedef {Object} pubsub.RouteCapabilities.$Properties
         * @property {boolean|null} [history] RouteCapabilities history
         * @property {Array.<pubsub.StartPosition>|null} [starts] RouteCapabilities starts
         * @property {boolean|null} [fetch] RouteCapabilities fetch
         * @property {boolean|null} [timeLookup] RouteCapabilities timeLookup
         * @property {boolean|null} [offsets] RouteCapabilities offsets
         * @property {boolean|null} [groups] RouteCapabilities groups
         * @property {boolean|null} [ack] RouteCapabilities ack
         * @property {boolean|null} [nack] RouteCapabilities nack
         * @property {boolean|null} [commit] RouteCapabilities commit
         * @property {string|null} [wildcards] RouteCapabilities wildcards
         * @property {boolean|null} [headers] RouteCapabilities headers
         * @property {boolean|null} [keys] RouteCapabilities keys
         * @property {boolean|null} [partitions] RouteCapabilities partitions
         * @property {boolean|null} [stringPositions] RouteCapabilities stringPositions
         * @property {boolean|null} [epochs] RouteCapabilities epochs
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a RouteCapabilities.
         * @memberof pubsub
         * @interface IRouteCapabilities
         * @augments pubsub.RouteCapabilities.$Properties
         * @deprecated Use pubsub.RouteCapabilities.$Properties instead.
         */

        /**
         * Shape of a RouteCapabilities.
         * @typedef {pubsub.RouteCapabilities.$Properties} pubsub.RouteCapabilities.$Shape
         */

        /**
         * Constructs a new RouteCapabilities.
         * @memberof pubsub
         * @classdesc Represents a RouteCapabilities.
         * @constructor
         * @param {pubsub.RouteCapabilities.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const RouteCapabilities = function (properties) {
            this.starts = [];
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * RouteCapabilities history.
         * @member {boolean} history
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.history = false;

        /**
         * RouteCapabilities starts.
         * @member {Array.<pubsub.StartPosition>} starts
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.starts = $util.emptyArray;

        /**
         * RouteCapabilities fetch.
         * @member {boolean} fetch
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.fetch = false;

        /**
         * RouteCapabilities timeLookup.
         * @member {boolean} timeLookup
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.timeLookup = false;

        /**
         * RouteCapabilities offsets.
         * @member {boolean} offsets
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.offsets = false;

        /**
         * RouteCapabilities groups.
         * @member {boolean} groups
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.groups = false;

        /**
         * RouteCapabilities ack.
         * @member {boolean} ack
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.ack = false;

        /**
         * RouteCapabilities nack.
         * @member {boolean} nack
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.nack = false;

        /**
         * RouteCapabilities commit.
         * @member {boolean} commit
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.commit = false;

        /**
         * RouteCapabilities wildcards.
         * @member {string} wildcards
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.wildcards = "";

        /**
         * RouteCapabilities headers.
         * @member {boolean} headers
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.headers = false;

        /**
         * RouteCapabilities keys.
         * @member {boolean} keys
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.keys = false;

        /**
         * RouteCapabilities partitions.
         * @member {boolean} partitions
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.partitions = false;

        /**
         * RouteCapabilities stringPositions.
         * @member {boolean} stringPositions
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.stringPositions = false;

        /**
         * RouteCapabilities epochs.
         * @member {boolean} epochs
         * @memberof pubsub.RouteCapabilities
         * @instance
         */
        RouteCapabilities.prototype.epochs = false;

        /**
         * Creates a new RouteCapabilities instance using the specified properties.
         * @function create
         * @memberof pubsub.RouteCapabilities
         * @static
         * @param {pubsub.RouteCapabilities.$Properties=} [properties] Properties to set
         * @returns {pubsub.RouteCapabilities} RouteCapabilities instance
         * @type {{
         *   (properties: pubsub.RouteCapabilities.$Shape): pubsub.RouteCapabilities & pubsub.RouteCapabilities.$Shape;
         *   (properties?: pubsub.RouteCapabilities.$Properties): pubsub.RouteCapabilities;
         * }}
         */
        RouteCapabilities.create = function(properties) {
            return new RouteCapabilities(properties);
        };

        /**
         * Encodes the specified RouteCapabilities message. Does not implicitly {@link pubsub.RouteCapabilities.verify|verify} messages.
         * @function encode
         * @memberof pubsub.RouteCapabilities
         * @static
         * @param {pubsub.RouteCapabilities.$Properties} message RouteCapabilities message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        RouteCapabilities.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.history != null && $Object.hasOwnProperty.call(message, "history") && message.history !== false)
                writer.uint32(/* id 1, wireType 0 =*/8).bool(message.history);
            if (message.starts != null && message.starts.length)
                writer.uint32(/* id 2, wireType 2 =*/18).int32s(message.starts);
            if (message.fetch != null && $Object.hasOwnProperty.call(message, "fetch") && message.fetch !== false)
                writer.uint32(/* id 3, wireType 0 =*/24).bool(message.fetch);
            if (message.timeLookup != null && $Object.hasOwnProperty.call(message, "timeLookup") && message.timeLookup !== false)
                writer.uint32(/* id 4, wireType 0 =*/32).bool(message.timeLookup);
            if (message.offsets != null && $Object.hasOwnProperty.call(message, "offsets") && message.offsets !== false)
                writer.uint32(/* id 5, wireType 0 =*/40).bool(message.offsets);
            if (message.groups != null && $Object.hasOwnProperty.call(message, "groups") && message.groups !== false)
                writer.uint32(/* id 6, wireType 0 =*/48).bool(message.groups);
            if (message.ack != null && $Object.hasOwnProperty.call(message, "ack") && message.ack !== false)
                writer.uint32(/* id 7, wireType 0 =*/56).bool(message.ack);
            if (message.nack != null && $Object.hasOwnProperty.call(message, "nack") && message.nack !== false)
                writer.uint32(/* id 8, wireType 0 =*/64).bool(message.nack);
            if (message.commit != null && $Object.hasOwnProperty.call(message, "commit") && message.commit !== false)
                writer.uint32(/* id 9, wireType 0 =*/72).bool(message.commit);
            if (message.wildcards != null && $Object.hasOwnProperty.call(message, "wildcards") && message.wildcards !== "")
                writer.uint32(/* id 10, wireType 2 =*/82).string(message.wildcards);
            if (message.headers != null && $Object.hasOwnProperty.call(message, "headers") && message.headers !== false)
                writer.uint32(/* id 11, wireType 0 =*/88).bool(message.headers);
            if (message.keys != null && $Object.hasOwnProperty.call(message, "keys") && message.keys !== false)
                writer.uint32(/* id 12, wireType 0 =*/96).bool(message.keys);
            if (message.partitions != null && $Object.hasOwnProperty.call(message, "partitions") && message.partitions !== false)
                writer.uint32(/* id 13, wireType 0 =*/104).bool(message.partitions);
            if (message.stringPositions != null && $Object.hasOwnProperty.call(message, "stringPositions") && message.stringPositions !== false)
                writer.uint32(/* id 14, wireType 0 =*/112).bool(message.stringPositions);
            if (message.epochs != null && $Object.hasOwnProperty.call(message, "epochs") && message.epochs !== false)
                writer.uint32(/* id 15, wireType 0 =*/120).bool(message.epochs);
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a RouteCapabilities message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.RouteCapabilities
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.RouteCapabilities & pubsub.RouteCapabilities.$Shape} RouteCapabilities
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        RouteCapabilities.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.RouteCapabilities();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.history = value;
                        else
                            delete message.history;
                        continue;
                    }
                case 2: {
                        if (wireType === 2) {
                            if (!(message.starts && message.starts.length))
                                message.starts = [];
                            reader.int32s(message.starts);
                            continue;
                        }
                        if (wireType !== 0)
                            break;
                        if (!(message.starts && message.starts.length))
                            message.starts = [];
                        message.starts.push(reader.int32());
                        continue;
                    }
                case 3: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.fetch = value;
                        else
                            delete message.fetch;
                        continue;
                    }
                case 4: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.timeLookup = value;
                        else
                            delete message.timeLookup;
                        continue;
                    }
                case 5: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.offsets = value;
                        else
                            delete message.offsets;
                        continue;
                    }
                case 6: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.groups = value;
                        else
                            delete message.groups;
                        continue;
                    }
                case 7: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.ack = value;
                        else
                            delete message.ack;
                        continue;
                    }
                case 8: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.nack = value;
                        else
                            delete message.nack;
                        continue;
                    }
                case 9: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.commit = value;
                        else
                            delete message.commit;
                        continue;
                    }
                case 10: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.wildcards = value;
                        else
                            delete message.wildcards;
                        continue;
                    }
                case 11: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.headers = value;
                        else
                            delete message.headers;
                        continue;
                    }
                case 12: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.keys = value;
                        else
                            delete message.keys;
                        continue;
                    }
                case 13: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.partitions = value;
                        else
                            delete message.partitions;
                        continue;
                    }
                case 14: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.stringPositions = value;
                        else
                            delete message.stringPositions;
                        continue;
                    }
                case 15: {
                        if (wireType !== 0)
                            break;
                        if (value = reader.bool())
                            message.epochs = value;
                        else
                            delete message.epochs;
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return RouteCapabilities;
    })();

    pubsub.RouteInfoResp = (function() {

        /**
         * Properties of a RouteInfoResp.
         * @typedef {Object} pubsub.RouteInfoResp.$Properties
         * @property {string|null} [route] RouteInfoResp route
         * @property {string|null} [scheme] RouteInfoResp scheme
         * @property {pubsub.RouteCapabilities.$Properties|null} [capabilities] RouteInfoResp capabilities
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a RouteInfoResp.
         * @memberof pubsub
         * @interface IRouteInfoResp
         * @augments pubsub.RouteInfoResp.$Properties
         * @deprecated Use pubsub.RouteInfoResp.$Properties instead.
         */

        /**
         * Shape of a RouteInfoResp.
         * @typedef {pubsub.RouteInfoResp.$Properties} pubsub.RouteInfoResp.$Shape
         */

        /**
         * Constructs a new RouteInfoResp.
         * @memberof pubsub
         * @classdesc Represents a RouteInfoResp.
         * @constructor
         * @param {pubsub.RouteInfoResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const RouteInfoResp = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * RouteInfoResp route.
         * @member {string} route
         * @memberof pubsub.RouteInfoResp
         * @instance
         */
        RouteInfoResp.prototype.route = "";

        /**
         * RouteInfoResp scheme.
         * @member {string} scheme
         * @memberof pubsub.RouteInfoResp
         * @instance
         */
        RouteInfoResp.prototype.scheme = "";

        /**
         * RouteInfoResp capabilities.
         * @member {pubsub.RouteCapabilities.$Properties|null|undefined} capabilities
         * @memberof pubsub.RouteInfoResp
         * @instance
         */
        RouteInfoResp.prototype.capabilities = null;

        /**
         * Creates a new RouteInfoResp instance using the specified properties.
         * @function create
         * @memberof pubsub.RouteInfoResp
         * @static
         * @param {pubsub.RouteInfoResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.RouteInfoResp} RouteInfoResp instance
         * @type {{
         *   (properties: pubsub.RouteInfoResp.$Shape): pubsub.RouteInfoResp & pubsub.RouteInfoResp.$Shape;
         *   (properties?: pubsub.RouteInfoResp.$Properties): pubsub.RouteInfoResp;
         * }}
         */
        RouteInfoResp.create = function(properties) {
            return new RouteInfoResp(properties);
        };

        /**
         * Encodes the specified RouteInfoResp message. Does not implicitly {@link pubsub.RouteInfoResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.RouteInfoResp
         * @static
         * @param {pubsub.RouteInfoResp.$Properties} message RouteInfoResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        RouteInfoResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.route != null && $Object.hasOwnProperty.call(message, "route") && message.route !== "")
                writer.uint32(/* id 1, wireType 2 =*/10).string(message.route);
            if (message.scheme != null && $Object.hasOwnProperty.call(message, "scheme") && message.scheme !== "")
                writer.uint32(/* id 2, wireType 2 =*/18).string(message.scheme);
            if (message.capabilities != null && $Object.hasOwnProperty.call(message, "capabilities"))
                $root.pubsub.RouteCapabilities.encode(message.capabilities, writer.uint32(/* id 3, wireType 2 =*/26).fork(), _depth + 1).ldelim();
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a RouteInfoResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.RouteInfoResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.RouteInfoResp & pubsub.RouteInfoResp.$Shape} RouteInfoResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        RouteInfoResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.RouteInfoResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.route = value;
                        else
                            delete message.route;
                        continue;
                    }
                case 2: {
                        if (wireType !== 2)
                            break;
                        if ((value = reader.stringVerify()).length)
                            message.scheme = value;
                        else
                            delete message.scheme;
                        continue;
                    }
                case 3: {
                        if (wireType !== 2)
                            break;
                        message.capabilities = $root.pubsub.RouteCapabilities.decode(reader, reader.size(), $undefined, _depth + 1, message.capabilities);
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return RouteInfoResp;
    })();

    pubsub.PubSubResp = (function() {

        /**
         * Properties of a PubSubResp.
         * @typedef {Object} pubsub.PubSubResp.$Properties
         * @property {number|Long|null} [sequence] PubSubResp sequence
         * @property {pubsub.ErrorResp.$Properties|null} [errorResp] PubSubResp errorResp
         * @property {pubsub.PongResp.$Properties|null} [pongResp] PubSubResp pongResp
         * @property {pubsub.KafkaFetchResp.$Properties|null} [kafkaFetchResp] PubSubResp kafkaFetchResp
         * @property {pubsub.KafkaListOffsetResp.$Properties|null} [kafkaListOffsetResp] PubSubResp kafkaListOffsetResp
         * @property {pubsub.KafkaProduceResp.$Properties|null} [kafkaProduceResp] PubSubResp kafkaProduceResp
         * @property {pubsub.KafkaSubscribeResp.$Properties|null} [kafkaSubscribeResp] PubSubResp kafkaSubscribeResp
         * @property {pubsub.KafkaPush.$Properties|null} [kafkaPush] PubSubResp kafkaPush
         * @property {pubsub.OkResp.$Properties|null} [okResp] PubSubResp okResp
         * @property {pubsub.KafkaMetadataResp.$Properties|null} [kafkaMetadataResp] PubSubResp kafkaMetadataResp
         * @property {pubsub.RouteInfoResp.$Properties|null} [routeInfoResp] PubSubResp routeInfoResp
         * @property {"errorResp"|"pongResp"|"kafkaFetchResp"|"kafkaListOffsetResp"|"kafkaProduceResp"|"kafkaSubscribeResp"|"kafkaPush"|"okResp"|"kafkaMetadataResp"|"routeInfoResp"} [resp] PubSubResp resp
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */

        /**
         * Properties of a PubSubResp.
         * @memberof pubsub
         * @interface IPubSubResp
         * @augments pubsub.PubSubResp.$Properties
         * @deprecated Use pubsub.PubSubResp.$Properties instead.
         */

        /**
         * Narrowed shape of a PubSubResp.
         * @typedef {{
         *   sequence?: number|Long|null;
         *   errorResp?: pubsub.ErrorResp.$Shape|null;
         *   pongResp?: pubsub.PongResp.$Shape|null;
         *   kafkaFetchResp?: pubsub.KafkaFetchResp.$Shape|null;
         *   kafkaListOffsetResp?: pubsub.KafkaListOffsetResp.$Shape|null;
         *   kafkaProduceResp?: pubsub.KafkaProduceResp.$Shape|null;
         *   kafkaSubscribeResp?: pubsub.KafkaSubscribeResp.$Shape|null;
         *   kafkaPush?: pubsub.KafkaPush.$Shape|null;
         *   okResp?: pubsub.OkResp.$Shape|null;
         *   kafkaMetadataResp?: pubsub.KafkaMetadataResp.$Shape|null;
         *   routeInfoResp?: pubsub.RouteInfoResp.$Shape|null;
         *   $unknowns?: Array.<Uint8Array>;
         * } & (
         *   ({ resp?: undefined; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "errorResp"; errorResp: pubsub.ErrorResp.$Shape; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "pongResp"; errorResp?: null; pongResp: pubsub.PongResp.$Shape; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaFetchResp"; errorResp?: null; pongResp?: null; kafkaFetchResp: pubsub.KafkaFetchResp.$Shape; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaListOffsetResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp: pubsub.KafkaListOffsetResp.$Shape; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaProduceResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp: pubsub.KafkaProduceResp.$Shape; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaSubscribeResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp: pubsub.KafkaSubscribeResp.$Shape; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaPush"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush: pubsub.KafkaPush.$Shape; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "okResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp: pubsub.OkResp.$Shape; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaMetadataResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp: pubsub.KafkaMetadataResp.$Shape; routeInfoResp?: null }|{ resp?: "routeInfoResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp: pubsub.RouteInfoResp.$Shape })
         * )} pubsub.PubSubResp.$Shape
         */

        /**
         * Constructs a new PubSubResp.
         * @memberof pubsub
         * @classdesc Represents a PubSubResp.
         * @constructor
         * @param {pubsub.PubSubResp.$Properties=} [properties] Properties to set
         * @property {Array.<Uint8Array>} [$unknowns] Unknown fields preserved while decoding when enabled
         */
        const PubSubResp = function (properties) {
            if (properties)
                for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                    if (properties[keys[i]] != null && keys[i] !== "__proto__")
                        this[keys[i]] = properties[keys[i]];
        };

        /**
         * PubSubResp sequence.
         * @member {number|Long} sequence
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.sequence = $util.Long ? $util.Long.fromBits(0,0,false) : 0;

        /**
         * PubSubResp errorResp.
         * @member {pubsub.ErrorResp.$Properties|null|undefined} errorResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.errorResp = null;

        /**
         * PubSubResp pongResp.
         * @member {pubsub.PongResp.$Properties|null|undefined} pongResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.pongResp = null;

        /**
         * PubSubResp kafkaFetchResp.
         * @member {pubsub.KafkaFetchResp.$Properties|null|undefined} kafkaFetchResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.kafkaFetchResp = null;

        /**
         * PubSubResp kafkaListOffsetResp.
         * @member {pubsub.KafkaListOffsetResp.$Properties|null|undefined} kafkaListOffsetResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.kafkaListOffsetResp = null;

        /**
         * PubSubResp kafkaProduceResp.
         * @member {pubsub.KafkaProduceResp.$Properties|null|undefined} kafkaProduceResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.kafkaProduceResp = null;

        /**
         * PubSubResp kafkaSubscribeResp.
         * @member {pubsub.KafkaSubscribeResp.$Properties|null|undefined} kafkaSubscribeResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.kafkaSubscribeResp = null;

        /**
         * PubSubResp kafkaPush.
         * @member {pubsub.KafkaPush.$Properties|null|undefined} kafkaPush
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.kafkaPush = null;

        /**
         * PubSubResp okResp.
         * @member {pubsub.OkResp.$Properties|null|undefined} okResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.okResp = null;

        /**
         * PubSubResp kafkaMetadataResp.
         * @member {pubsub.KafkaMetadataResp.$Properties|null|undefined} kafkaMetadataResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.kafkaMetadataResp = null;

        /**
         * PubSubResp routeInfoResp.
         * @member {pubsub.RouteInfoResp.$Properties|null|undefined} routeInfoResp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        PubSubResp.prototype.routeInfoResp = null;

        // OneOf field names bound to virtual getters and setters
        let $oneOfFields;

        /**
         * PubSubResp resp.
         * @member {"errorResp"|"pongResp"|"kafkaFetchResp"|"kafkaListOffsetResp"|"kafkaProduceResp"|"kafkaSubscribeResp"|"kafkaPush"|"okResp"|"kafkaMetadataResp"|"routeInfoResp"|undefined} resp
         * @memberof pubsub.PubSubResp
         * @instance
         */
        $Object.defineProperty(PubSubResp.prototype, "resp", {
            get: $util.oneOfGetter($oneOfFields = ["errorResp", "pongResp", "kafkaFetchResp", "kafkaListOffsetResp", "kafkaProduceResp", "kafkaSubscribeResp", "kafkaPush", "okResp", "kafkaMetadataResp", "routeInfoResp"]),
            set: $util.oneOfSetter($oneOfFields)
        });

        /**
         * Creates a new PubSubResp instance using the specified properties.
         * @function create
         * @memberof pubsub.PubSubResp
         * @static
         * @param {pubsub.PubSubResp.$Properties=} [properties] Properties to set
         * @returns {pubsub.PubSubResp} PubSubResp instance
         * @type {{
         *   (properties: pubsub.PubSubResp.$Shape): pubsub.PubSubResp & pubsub.PubSubResp.$Shape;
         *   (properties?: pubsub.PubSubResp.$Properties): pubsub.PubSubResp;
         * }}
         */
        PubSubResp.create = function(properties) {
            return new PubSubResp(properties);
        };

        /**
         * Encodes the specified PubSubResp message. Does not implicitly {@link pubsub.PubSubResp.verify|verify} messages.
         * @function encode
         * @memberof pubsub.PubSubResp
         * @static
         * @param {pubsub.PubSubResp.$Properties} message PubSubResp message or plain object to encode
         * @param {$protobuf.Writer} [writer] Writer to encode to
         * @returns {$protobuf.Writer} Writer
         */
        PubSubResp.encode = function (message, writer, _depth) {
            if (!writer)
                writer = $Writer.create();
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $util.recursionLimit)
                throw $Error("max depth exceeded");
            if (message.sequence != null && $Object.hasOwnProperty.call(message, "sequence") && (typeof message.sequence === "object" ? message.sequence.low || message.sequence.high : message.sequence !== 0))
                writer.uint32(/* id 1, wireType 0 =*/8).int64(message.sequence);
            if (message.errorResp != null && $Object.hasOwnProperty.call(message, "errorResp"))
                $root.pubsub.ErrorResp.encode(message.errorResp, writer.uint32(/* id 31, wireType 2 =*/250).fork(), _depth + 1).ldelim();
            if (message.pongResp != null && $Object.hasOwnProperty.call(message, "pongResp"))
                $root.pubsub.PongResp.encode(message.pongResp, writer.uint32(/* id 32, wireType 2 =*/258).fork(), _depth + 1).ldelim();
            if (message.kafkaFetchResp != null && $Object.hasOwnProperty.call(message, "kafkaFetchResp"))
                $root.pubsub.KafkaFetchResp.encode(message.kafkaFetchResp, writer.uint32(/* id 33, wireType 2 =*/266).fork(), _depth + 1).ldelim();
            if (message.kafkaListOffsetResp != null && $Object.hasOwnProperty.call(message, "kafkaListOffsetResp"))
                $root.pubsub.KafkaListOffsetResp.encode(message.kafkaListOffsetResp, writer.uint32(/* id 34, wireType 2 =*/274).fork(), _depth + 1).ldelim();
            if (message.kafkaProduceResp != null && $Object.hasOwnProperty.call(message, "kafkaProduceResp"))
                $root.pubsub.KafkaProduceResp.encode(message.kafkaProduceResp, writer.uint32(/* id 35, wireType 2 =*/282).fork(), _depth + 1).ldelim();
            if (message.kafkaSubscribeResp != null && $Object.hasOwnProperty.call(message, "kafkaSubscribeResp"))
                $root.pubsub.KafkaSubscribeResp.encode(message.kafkaSubscribeResp, writer.uint32(/* id 36, wireType 2 =*/290).fork(), _depth + 1).ldelim();
            if (message.kafkaPush != null && $Object.hasOwnProperty.call(message, "kafkaPush"))
                $root.pubsub.KafkaPush.encode(message.kafkaPush, writer.uint32(/* id 37, wireType 2 =*/298).fork(), _depth + 1).ldelim();
            if (message.okResp != null && $Object.hasOwnProperty.call(message, "okResp"))
                $root.pubsub.OkResp.encode(message.okResp, writer.uint32(/* id 38, wireType 2 =*/306).fork(), _depth + 1).ldelim();
            if (message.kafkaMetadataResp != null && $Object.hasOwnProperty.call(message, "kafkaMetadataResp"))
                $root.pubsub.KafkaMetadataResp.encode(message.kafkaMetadataResp, writer.uint32(/* id 39, wireType 2 =*/314).fork(), _depth + 1).ldelim();
            if (message.routeInfoResp != null && $Object.hasOwnProperty.call(message, "routeInfoResp"))
                $root.pubsub.RouteInfoResp.encode(message.routeInfoResp, writer.uint32(/* id 41, wireType 2 =*/330).fork(), _depth + 1).ldelim();
            if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                for (let i = 0; i < message.$unknowns.length; ++i)
                    writer.raw(message.$unknowns[i]);
            return writer;
        };

        /**
         * Decodes a PubSubResp message from the specified reader or buffer.
         * @function decode
         * @memberof pubsub.PubSubResp
         * @static
         * @param {$protobuf.Reader|Uint8Array} reader Reader or buffer to decode from
         * @param {number} [length] Message length if known beforehand
         * @returns {pubsub.PubSubResp & pubsub.PubSubResp.$Shape} PubSubResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        PubSubResp.decode = function (reader, length, _end, _depth, _target) {
            if (!(reader instanceof $Reader))
                reader = $Reader.create(reader);
            if (_depth === $undefined)
                _depth = 0;
            if (_depth > $Reader.recursionLimit)
                throw $Error("max depth exceeded");
            let end, message, value;
            if (length === $undefined)
                end = reader.len;
            else {
                end = reader.pos + length;
                if (end > reader.len)
                    throw $RangeError("index out of range");
                length = reader.len;
                reader.len = end;
            }
            message = _target || new $root.pubsub.PubSubResp();
            while (reader.pos < end) {
                let start = reader.pos;
                let tag = reader.tag();
                if (tag === _end) {
                    _end = $undefined;
                    break;
                }
                let wireType = tag & 7;
                switch (tag >>>= 3) {
                case 1: {
                        if (wireType !== 0)
                            break;
                        if (typeof (value = reader.int64()) === "object" ? value.low || value.high : value !== 0)
                            message.sequence = value;
                        else
                            delete message.sequence;
                        continue;
                    }
                case 31: {
                        if (wireType !== 2)
                            break;
                        message.errorResp = $root.pubsub.ErrorResp.decode(reader, reader.size(), $undefined, _depth + 1, message.errorResp);
                        message.resp = "errorResp";
                        continue;
                    }
                case 32: {
                        if (wireType !== 2)
                            break;
                        message.pongResp = $root.pubsub.PongResp.decode(reader, reader.size(), $undefined, _depth + 1, message.pongResp);
                        message.resp = "pongResp";
                        continue;
                    }
                case 33: {
                        if (wireType !== 2)
                            break;
                        message.kafkaFetchResp = $root.pubsub.KafkaFetchResp.decode(reader, reader.size(), $undefined, _depth + 1, message.kafkaFetchResp);
                        message.resp = "kafkaFetchResp";
                        continue;
                    }
                case 34: {
                        if (wireType !== 2)
                            break;
                        message.kafkaListOffsetResp = $root.pubsub.KafkaListOffsetResp.decode(reader, reader.size(), $undefined, _depth + 1, message.kafkaListOffsetResp);
                        message.resp = "kafkaListOffsetResp";
                        continue;
                    }
                case 35: {
                        if (wireType !== 2)
                            break;
                        message.kafkaProduceResp = $root.pubsub.KafkaProduceResp.decode(reader, reader.size(), $undefined, _depth + 1, message.kafkaProduceResp);
                        message.resp = "kafkaProduceResp";
                        continue;
                    }
                case 36: {
                        if (wireType !== 2)
                            break;
                        message.kafkaSubscribeResp = $root.pubsub.KafkaSubscribeResp.decode(reader, reader.size(), $undefined, _depth + 1, message.kafkaSubscribeResp);
                        message.resp = "kafkaSubscribeResp";
                        continue;
                    }
                case 37: {
                        if (wireType !== 2)
                            break;
                        message.kafkaPush = $root.pubsub.KafkaPush.decode(reader, reader.size(), $undefined, _depth + 1, message.kafkaPush);
                        message.resp = "kafkaPush";
                        continue;
                    }
                case 38: {
                        if (wireType !== 2)
                            break;
                        message.okResp = $root.pubsub.OkResp.decode(reader, reader.size(), $undefined, _depth + 1, message.okResp);
                        message.resp = "okResp";
                        continue;
                    }
                case 39: {
                        if (wireType !== 2)
                            break;
                        message.kafkaMetadataResp = $root.pubsub.KafkaMetadataResp.decode(reader, reader.size(), $undefined, _depth + 1, message.kafkaMetadataResp);
                        message.resp = "kafkaMetadataResp";
                        continue;
                    }
                case 41: {
                        if (wireType !== 2)
                            break;
                        message.routeInfoResp = $root.pubsub.RouteInfoResp.decode(reader, reader.size(), $undefined, _depth + 1, message.routeInfoResp);
                        message.resp = "routeInfoResp";
                        continue;
                    }
                }
                reader.skipType(wireType, _depth, tag);
                if (!reader.discardUnknown) {
                    $util.makeProp(message, "$unknowns", false);
                    (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                }
            }
            if (length !== $undefined) {
                if (reader.pos !== end)
                    throw $RangeError("index out of range");
                reader.len = length;
            }
            if (_end !== $undefined)
                throw $Error("missing end group");
            return message;
        };

        return PubSubResp;
    })();

    return pubsub;
})();

export {
  $root as default
};

import * as $protobuf from "protobufjs";
import Long = require("long");

/** Namespace pubsub. */
export namespace pubsub {

    /**
     * Properties of a CmdEmpty.
     * @deprecated Use pubsub.CmdEmpty.$Properties instead.
     */
    interface ICmdEmpty extends pubsub.CmdEmpty.$Properties {
    }

    /** Represents a CmdEmpty. */
    class CmdEmpty {

        /**
         * Constructs a new CmdEmpty.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdEmpty.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /**
         * Creates a new CmdEmpty instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdEmpty instance
         */
        static create(properties: pubsub.CmdEmpty.$Shape): pubsub.CmdEmpty & pubsub.CmdEmpty.$Shape;
        static create(properties?: pubsub.CmdEmpty.$Properties): pubsub.CmdEmpty;

        /**
         * Encodes the specified CmdEmpty message. Does not implicitly {@link pubsub.CmdEmpty.verify|verify} messages.
         * @param message CmdEmpty message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdEmpty.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdEmpty message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdEmpty & pubsub.CmdEmpty.$Shape} CmdEmpty
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdEmpty & pubsub.CmdEmpty.$Shape;
    }

    namespace CmdEmpty {

        /** Properties of a CmdEmpty. */
        interface $Properties {

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdEmpty. */
        type $Shape = pubsub.CmdEmpty.$Properties;
    }

    /**
     * Properties of a CmdPing.
     * @deprecated Use pubsub.CmdPing.$Properties instead.
     */
    interface ICmdPing extends pubsub.CmdPing.$Properties {
    }

    /** Represents a CmdPing. */
    class CmdPing {

        /**
         * Constructs a new CmdPing.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdPing.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdPing state. */
        state: Uint8Array;

        /**
         * Creates a new CmdPing instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdPing instance
         */
        static create(properties: pubsub.CmdPing.$Shape): pubsub.CmdPing & pubsub.CmdPing.$Shape;
        static create(properties?: pubsub.CmdPing.$Properties): pubsub.CmdPing;

        /**
         * Encodes the specified CmdPing message. Does not implicitly {@link pubsub.CmdPing.verify|verify} messages.
         * @param message CmdPing message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdPing.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdPing message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdPing & pubsub.CmdPing.$Shape} CmdPing
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdPing & pubsub.CmdPing.$Shape;
    }

    namespace CmdPing {

        /** Properties of a CmdPing. */
        interface $Properties {

            /** CmdPing state */
            state?: (Uint8Array|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdPing. */
        type $Shape = pubsub.CmdPing.$Properties;
    }

    /**
     * Properties of a CmdKafkaListOffset.
     * @deprecated Use pubsub.CmdKafkaListOffset.$Properties instead.
     */
    interface ICmdKafkaListOffset extends pubsub.CmdKafkaListOffset.$Properties {
    }

    /** Represents a CmdKafkaListOffset. */
    class CmdKafkaListOffset {

        /**
         * Constructs a new CmdKafkaListOffset.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdKafkaListOffset.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdKafkaListOffset topic. */
        topic: string;

        /** CmdKafkaListOffset partition. */
        partition: number;

        /** CmdKafkaListOffset timestamp. */
        timestamp: (number|Long);

        /**
         * Creates a new CmdKafkaListOffset instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdKafkaListOffset instance
         */
        static create(properties: pubsub.CmdKafkaListOffset.$Shape): pubsub.CmdKafkaListOffset & pubsub.CmdKafkaListOffset.$Shape;
        static create(properties?: pubsub.CmdKafkaListOffset.$Properties): pubsub.CmdKafkaListOffset;

        /**
         * Encodes the specified CmdKafkaListOffset message. Does not implicitly {@link pubsub.CmdKafkaListOffset.verify|verify} messages.
         * @param message CmdKafkaListOffset message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdKafkaListOffset.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdKafkaListOffset message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaListOffset & pubsub.CmdKafkaListOffset.$Shape} CmdKafkaListOffset
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdKafkaListOffset & pubsub.CmdKafkaListOffset.$Shape;
    }

    namespace CmdKafkaListOffset {

        /** Properties of a CmdKafkaListOffset. */
        interface $Properties {

            /** CmdKafkaListOffset topic */
            topic?: (string|null);

            /** CmdKafkaListOffset partition */
            partition?: (number|null);

            /** CmdKafkaListOffset timestamp */
            timestamp?: (number|Long|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdKafkaListOffset. */
        type $Shape = pubsub.CmdKafkaListOffset.$Properties;
    }

    /**
     * Properties of a CmdKafkaFetch.
     * @deprecated Use pubsub.CmdKafkaFetch.$Properties instead.
     */
    interface ICmdKafkaFetch extends pubsub.CmdKafkaFetch.$Properties {
    }

    /** Represents a CmdKafkaFetch. */
    class CmdKafkaFetch {

        /**
         * Constructs a new CmdKafkaFetch.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdKafkaFetch.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdKafkaFetch topic. */
        topic: string;

        /** CmdKafkaFetch partition. */
        partition: number;

        /** CmdKafkaFetch offset. */
        offset: (number|Long);

        /** CmdKafkaFetch maxMessages. */
        maxMessages: number;

        /** CmdKafkaFetch maxBytes. */
        maxBytes: number;

        /** CmdKafkaFetch maxWaitMs. */
        maxWaitMs: number;

        /**
         * Creates a new CmdKafkaFetch instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdKafkaFetch instance
         */
        static create(properties: pubsub.CmdKafkaFetch.$Shape): pubsub.CmdKafkaFetch & pubsub.CmdKafkaFetch.$Shape;
        static create(properties?: pubsub.CmdKafkaFetch.$Properties): pubsub.CmdKafkaFetch;

        /**
         * Encodes the specified CmdKafkaFetch message. Does not implicitly {@link pubsub.CmdKafkaFetch.verify|verify} messages.
         * @param message CmdKafkaFetch message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdKafkaFetch.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdKafkaFetch message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaFetch & pubsub.CmdKafkaFetch.$Shape} CmdKafkaFetch
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdKafkaFetch & pubsub.CmdKafkaFetch.$Shape;
    }

    namespace CmdKafkaFetch {

        /** Properties of a CmdKafkaFetch. */
        interface $Properties {

            /** CmdKafkaFetch topic */
            topic?: (string|null);

            /** CmdKafkaFetch partition */
            partition?: (number|null);

            /** CmdKafkaFetch offset */
            offset?: (number|Long|null);

            /** CmdKafkaFetch maxMessages */
            maxMessages?: (number|null);

            /** CmdKafkaFetch maxBytes */
            maxBytes?: (number|null);

            /** CmdKafkaFetch maxWaitMs */
            maxWaitMs?: (number|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdKafkaFetch. */
        type $Shape = pubsub.CmdKafkaFetch.$Properties;
    }

    /**
     * Properties of a KafkaHeader.
     * @deprecated Use pubsub.KafkaHeader.$Properties instead.
     */
    interface IKafkaHeader extends pubsub.KafkaHeader.$Properties {
    }

    /** Represents a KafkaHeader. */
    class KafkaHeader {

        /**
         * Constructs a new KafkaHeader.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaHeader.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaHeader key. */
        key: string;

        /** KafkaHeader value. */
        value: Uint8Array;

        /**
         * Creates a new KafkaHeader instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaHeader instance
         */
        static create(properties: pubsub.KafkaHeader.$Shape): pubsub.KafkaHeader & pubsub.KafkaHeader.$Shape;
        static create(properties?: pubsub.KafkaHeader.$Properties): pubsub.KafkaHeader;

        /**
         * Encodes the specified KafkaHeader message. Does not implicitly {@link pubsub.KafkaHeader.verify|verify} messages.
         * @param message KafkaHeader message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaHeader.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaHeader message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaHeader & pubsub.KafkaHeader.$Shape} KafkaHeader
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaHeader & pubsub.KafkaHeader.$Shape;
    }

    namespace KafkaHeader {

        /** Properties of a KafkaHeader. */
        interface $Properties {

            /** KafkaHeader key */
            key?: (string|null);

            /** KafkaHeader value */
            value?: (Uint8Array|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaHeader. */
        type $Shape = pubsub.KafkaHeader.$Properties;
    }

    /**
     * Properties of a CmdKafkaProduce.
     * @deprecated Use pubsub.CmdKafkaProduce.$Properties instead.
     */
    interface ICmdKafkaProduce extends pubsub.CmdKafkaProduce.$Properties {
    }

    /** Represents a CmdKafkaProduce. */
    class CmdKafkaProduce {

        /**
         * Constructs a new CmdKafkaProduce.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdKafkaProduce.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdKafkaProduce topic. */
        topic: string;

        /** CmdKafkaProduce partition. */
        partition?: (number|null);

        /** CmdKafkaProduce key. */
        key: Uint8Array;

        /** CmdKafkaProduce value. */
        value: Uint8Array;

        /** CmdKafkaProduce headers. */
        headers: pubsub.KafkaHeader.$Properties[];

        /** CmdKafkaProduce timestamp. */
        timestamp: (number|Long);

        /** CmdKafkaProduce idempotencyKey. */
        idempotencyKey: string;

        /**
         * Creates a new CmdKafkaProduce instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdKafkaProduce instance
         */
        static create(properties: pubsub.CmdKafkaProduce.$Shape): pubsub.CmdKafkaProduce & pubsub.CmdKafkaProduce.$Shape;
        static create(properties?: pubsub.CmdKafkaProduce.$Properties): pubsub.CmdKafkaProduce;

        /**
         * Encodes the specified CmdKafkaProduce message. Does not implicitly {@link pubsub.CmdKafkaProduce.verify|verify} messages.
         * @param message CmdKafkaProduce message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdKafkaProduce.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdKafkaProduce message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaProduce & pubsub.CmdKafkaProduce.$Shape} CmdKafkaProduce
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdKafkaProduce & pubsub.CmdKafkaProduce.$Shape;
    }

    namespace CmdKafkaProduce {

        /** Properties of a CmdKafkaProduce. */
        interface $Properties {

            /** CmdKafkaProduce topic */
            topic?: (string|null);

            /** CmdKafkaProduce partition */
            partition?: (number|null);

            /** CmdKafkaProduce key */
            key?: (Uint8Array|null);

            /** CmdKafkaProduce value */
            value?: (Uint8Array|null);

            /** CmdKafkaProduce headers */
            headers?: (pubsub.KafkaHeader.$Properties[]|null);

            /** CmdKafkaProduce timestamp */
            timestamp?: (number|Long|null);

            /** CmdKafkaProduce idempotencyKey */
            idempotencyKey?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdKafkaProduce. */
        type $Shape = pubsub.CmdKafkaProduce.$Properties;
    }

    /** StartPosition enum. */
    enum StartPosition {

        /** LATEST value */
        LATEST = 0,

        /** EARLIEST value */
        EARLIEST = 1,

        /** LAST value */
        LAST = 2,

        /** OFFSET value */
        OFFSET = 3,

        /** TIMESTAMP value */
        TIMESTAMP = 4,

        /** TIME_DELTA value */
        TIME_DELTA = 5
    }

    /**
     * Properties of a CmdKafkaSubscribe.
     * @deprecated Use pubsub.CmdKafkaSubscribe.$Properties instead.
     */
    interface ICmdKafkaSubscribe extends pubsub.CmdKafkaSubscribe.$Properties {
    }

    /** Represents a CmdKafkaSubscribe. */
    class CmdKafkaSubscribe {

        /**
         * Constructs a new CmdKafkaSubscribe.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdKafkaSubscribe.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdKafkaSubscribe topic. */
        topic: string;

        /** CmdKafkaSubscribe topicPattern. */
        topicPattern: string;

        /** CmdKafkaSubscribe partitions. */
        partitions: number[];

        /** CmdKafkaSubscribe start. */
        start: pubsub.StartPosition;

        /** CmdKafkaSubscribe startValue. */
        startValue: (number|Long);

        /** CmdKafkaSubscribe group. */
        group: string;

        /** CmdKafkaSubscribe matchHeaders. */
        matchHeaders: pubsub.KafkaHeader.$Properties[];

        /** CmdKafkaSubscribe maxInFlight. */
        maxInFlight: number;

        /** CmdKafkaSubscribe startEpoch. */
        startEpoch: (number|Long);

        /** CmdKafkaSubscribe startPosition. */
        startPosition: string;

        /**
         * Creates a new CmdKafkaSubscribe instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdKafkaSubscribe instance
         */
        static create(properties: pubsub.CmdKafkaSubscribe.$Shape): pubsub.CmdKafkaSubscribe & pubsub.CmdKafkaSubscribe.$Shape;
        static create(properties?: pubsub.CmdKafkaSubscribe.$Properties): pubsub.CmdKafkaSubscribe;

        /**
         * Encodes the specified CmdKafkaSubscribe message. Does not implicitly {@link pubsub.CmdKafkaSubscribe.verify|verify} messages.
         * @param message CmdKafkaSubscribe message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdKafkaSubscribe.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdKafkaSubscribe message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaSubscribe & pubsub.CmdKafkaSubscribe.$Shape} CmdKafkaSubscribe
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdKafkaSubscribe & pubsub.CmdKafkaSubscribe.$Shape;
    }

    namespace CmdKafkaSubscribe {

        /** Properties of a CmdKafkaSubscribe. */
        interface $Properties {

            /** CmdKafkaSubscribe topic */
            topic?: (string|null);

            /** CmdKafkaSubscribe topicPattern */
            topicPattern?: (string|null);

            /** CmdKafkaSubscribe partitions */
            partitions?: (number[]|null);

            /** CmdKafkaSubscribe start */
            start?: (pubsub.StartPosition|null);

            /** CmdKafkaSubscribe startValue */
            startValue?: (number|Long|null);

            /** CmdKafkaSubscribe group */
            group?: (string|null);

            /** CmdKafkaSubscribe matchHeaders */
            matchHeaders?: (pubsub.KafkaHeader.$Properties[]|null);

            /** CmdKafkaSubscribe maxInFlight */
            maxInFlight?: (number|null);

            /** CmdKafkaSubscribe startEpoch */
            startEpoch?: (number|Long|null);

            /** CmdKafkaSubscribe startPosition */
            startPosition?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdKafkaSubscribe. */
        type $Shape = pubsub.CmdKafkaSubscribe.$Properties;
    }

    /**
     * Properties of a CmdUnsubscribe.
     * @deprecated Use pubsub.CmdUnsubscribe.$Properties instead.
     */
    interface ICmdUnsubscribe extends pubsub.CmdUnsubscribe.$Properties {
    }

    /** Represents a CmdUnsubscribe. */
    class CmdUnsubscribe {

        /**
         * Constructs a new CmdUnsubscribe.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdUnsubscribe.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdUnsubscribe subscriptionId. */
        subscriptionId: (number|Long);

        /**
         * Creates a new CmdUnsubscribe instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdUnsubscribe instance
         */
        static create(properties: pubsub.CmdUnsubscribe.$Shape): pubsub.CmdUnsubscribe & pubsub.CmdUnsubscribe.$Shape;
        static create(properties?: pubsub.CmdUnsubscribe.$Properties): pubsub.CmdUnsubscribe;

        /**
         * Encodes the specified CmdUnsubscribe message. Does not implicitly {@link pubsub.CmdUnsubscribe.verify|verify} messages.
         * @param message CmdUnsubscribe message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdUnsubscribe.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdUnsubscribe message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdUnsubscribe & pubsub.CmdUnsubscribe.$Shape} CmdUnsubscribe
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdUnsubscribe & pubsub.CmdUnsubscribe.$Shape;
    }

    namespace CmdUnsubscribe {

        /** Properties of a CmdUnsubscribe. */
        interface $Properties {

            /** CmdUnsubscribe subscriptionId */
            subscriptionId?: (number|Long|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdUnsubscribe. */
        type $Shape = pubsub.CmdUnsubscribe.$Properties;
    }

    /**
     * Properties of a KafkaPartitionOffset.
     * @deprecated Use pubsub.KafkaPartitionOffset.$Properties instead.
     */
    interface IKafkaPartitionOffset extends pubsub.KafkaPartitionOffset.$Properties {
    }

    /** Represents a KafkaPartitionOffset. */
    class KafkaPartitionOffset {

        /**
         * Constructs a new KafkaPartitionOffset.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaPartitionOffset.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaPartitionOffset topic. */
        topic: string;

        /** KafkaPartitionOffset partition. */
        partition: number;

        /** KafkaPartitionOffset offset. */
        offset: (number|Long);

        /**
         * Creates a new KafkaPartitionOffset instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaPartitionOffset instance
         */
        static create(properties: pubsub.KafkaPartitionOffset.$Shape): pubsub.KafkaPartitionOffset & pubsub.KafkaPartitionOffset.$Shape;
        static create(properties?: pubsub.KafkaPartitionOffset.$Properties): pubsub.KafkaPartitionOffset;

        /**
         * Encodes the specified KafkaPartitionOffset message. Does not implicitly {@link pubsub.KafkaPartitionOffset.verify|verify} messages.
         * @param message KafkaPartitionOffset message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaPartitionOffset.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaPartitionOffset message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaPartitionOffset & pubsub.KafkaPartitionOffset.$Shape} KafkaPartitionOffset
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaPartitionOffset & pubsub.KafkaPartitionOffset.$Shape;
    }

    namespace KafkaPartitionOffset {

        /** Properties of a KafkaPartitionOffset. */
        interface $Properties {

            /** KafkaPartitionOffset topic */
            topic?: (string|null);

            /** KafkaPartitionOffset partition */
            partition?: (number|null);

            /** KafkaPartitionOffset offset */
            offset?: (number|Long|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaPartitionOffset. */
        type $Shape = pubsub.KafkaPartitionOffset.$Properties;
    }

    /**
     * Properties of a CmdKafkaCommit.
     * @deprecated Use pubsub.CmdKafkaCommit.$Properties instead.
     */
    interface ICmdKafkaCommit extends pubsub.CmdKafkaCommit.$Properties {
    }

    /** Represents a CmdKafkaCommit. */
    class CmdKafkaCommit {

        /**
         * Constructs a new CmdKafkaCommit.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdKafkaCommit.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdKafkaCommit subscriptionId. */
        subscriptionId: (number|Long);

        /** CmdKafkaCommit offsets. */
        offsets: pubsub.KafkaPartitionOffset.$Properties[];

        /**
         * Creates a new CmdKafkaCommit instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdKafkaCommit instance
         */
        static create(properties: pubsub.CmdKafkaCommit.$Shape): pubsub.CmdKafkaCommit & pubsub.CmdKafkaCommit.$Shape;
        static create(properties?: pubsub.CmdKafkaCommit.$Properties): pubsub.CmdKafkaCommit;

        /**
         * Encodes the specified CmdKafkaCommit message. Does not implicitly {@link pubsub.CmdKafkaCommit.verify|verify} messages.
         * @param message CmdKafkaCommit message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdKafkaCommit.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdKafkaCommit message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaCommit & pubsub.CmdKafkaCommit.$Shape} CmdKafkaCommit
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdKafkaCommit & pubsub.CmdKafkaCommit.$Shape;
    }

    namespace CmdKafkaCommit {

        /** Properties of a CmdKafkaCommit. */
        interface $Properties {

            /** CmdKafkaCommit subscriptionId */
            subscriptionId?: (number|Long|null);

            /** CmdKafkaCommit offsets */
            offsets?: (pubsub.KafkaPartitionOffset.$Properties[]|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdKafkaCommit. */
        type $Shape = pubsub.CmdKafkaCommit.$Properties;
    }

    /**
     * Properties of a CmdKafkaMetadata.
     * @deprecated Use pubsub.CmdKafkaMetadata.$Properties instead.
     */
    interface ICmdKafkaMetadata extends pubsub.CmdKafkaMetadata.$Properties {
    }

    /** Represents a CmdKafkaMetadata. */
    class CmdKafkaMetadata {

        /**
         * Constructs a new CmdKafkaMetadata.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdKafkaMetadata.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdKafkaMetadata topic. */
        topic: string;

        /**
         * Creates a new CmdKafkaMetadata instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdKafkaMetadata instance
         */
        static create(properties: pubsub.CmdKafkaMetadata.$Shape): pubsub.CmdKafkaMetadata & pubsub.CmdKafkaMetadata.$Shape;
        static create(properties?: pubsub.CmdKafkaMetadata.$Properties): pubsub.CmdKafkaMetadata;

        /**
         * Encodes the specified CmdKafkaMetadata message. Does not implicitly {@link pubsub.CmdKafkaMetadata.verify|verify} messages.
         * @param message CmdKafkaMetadata message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdKafkaMetadata.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdKafkaMetadata message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdKafkaMetadata & pubsub.CmdKafkaMetadata.$Shape} CmdKafkaMetadata
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdKafkaMetadata & pubsub.CmdKafkaMetadata.$Shape;
    }

    namespace CmdKafkaMetadata {

        /** Properties of a CmdKafkaMetadata. */
        interface $Properties {

            /** CmdKafkaMetadata topic */
            topic?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdKafkaMetadata. */
        type $Shape = pubsub.CmdKafkaMetadata.$Properties;
    }

    /**
     * Properties of a CmdRefresh.
     * @deprecated Use pubsub.CmdRefresh.$Properties instead.
     */
    interface ICmdRefresh extends pubsub.CmdRefresh.$Properties {
    }

    /** Represents a CmdRefresh. */
    class CmdRefresh {

        /**
         * Constructs a new CmdRefresh.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdRefresh.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdRefresh token. */
        token: string;

        /**
         * Creates a new CmdRefresh instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdRefresh instance
         */
        static create(properties: pubsub.CmdRefresh.$Shape): pubsub.CmdRefresh & pubsub.CmdRefresh.$Shape;
        static create(properties?: pubsub.CmdRefresh.$Properties): pubsub.CmdRefresh;

        /**
         * Encodes the specified CmdRefresh message. Does not implicitly {@link pubsub.CmdRefresh.verify|verify} messages.
         * @param message CmdRefresh message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdRefresh.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdRefresh message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdRefresh & pubsub.CmdRefresh.$Shape} CmdRefresh
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdRefresh & pubsub.CmdRefresh.$Shape;
    }

    namespace CmdRefresh {

        /** Properties of a CmdRefresh. */
        interface $Properties {

            /** CmdRefresh token */
            token?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdRefresh. */
        type $Shape = pubsub.CmdRefresh.$Properties;
    }

    /**
     * Properties of a CmdRouteInfo.
     * @deprecated Use pubsub.CmdRouteInfo.$Properties instead.
     */
    interface ICmdRouteInfo extends pubsub.CmdRouteInfo.$Properties {
    }

    /** Represents a CmdRouteInfo. */
    class CmdRouteInfo {

        /**
         * Constructs a new CmdRouteInfo.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdRouteInfo.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /**
         * Creates a new CmdRouteInfo instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdRouteInfo instance
         */
        static create(properties: pubsub.CmdRouteInfo.$Shape): pubsub.CmdRouteInfo & pubsub.CmdRouteInfo.$Shape;
        static create(properties?: pubsub.CmdRouteInfo.$Properties): pubsub.CmdRouteInfo;

        /**
         * Encodes the specified CmdRouteInfo message. Does not implicitly {@link pubsub.CmdRouteInfo.verify|verify} messages.
         * @param message CmdRouteInfo message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdRouteInfo.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdRouteInfo message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdRouteInfo & pubsub.CmdRouteInfo.$Shape} CmdRouteInfo
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdRouteInfo & pubsub.CmdRouteInfo.$Shape;
    }

    namespace CmdRouteInfo {

        /** Properties of a CmdRouteInfo. */
        interface $Properties {

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdRouteInfo. */
        type $Shape = pubsub.CmdRouteInfo.$Properties;
    }

    /**
     * Properties of a MessagePosition.
     * @deprecated Use pubsub.MessagePosition.$Properties instead.
     */
    interface IMessagePosition extends pubsub.MessagePosition.$Properties {
    }

    /** Represents a MessagePosition. */
    class MessagePosition {

        /**
         * Constructs a new MessagePosition.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.MessagePosition.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** MessagePosition topic. */
        topic: string;

        /** MessagePosition partition. */
        partition: number;

        /** MessagePosition offset. */
        offset: (number|Long);

        /** MessagePosition position. */
        position: string;

        /**
         * Creates a new MessagePosition instance using the specified properties.
         * @param [properties] Properties to set
         * @returns MessagePosition instance
         */
        static create(properties: pubsub.MessagePosition.$Shape): pubsub.MessagePosition & pubsub.MessagePosition.$Shape;
        static create(properties?: pubsub.MessagePosition.$Properties): pubsub.MessagePosition;

        /**
         * Encodes the specified MessagePosition message. Does not implicitly {@link pubsub.MessagePosition.verify|verify} messages.
         * @param message MessagePosition message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.MessagePosition.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a MessagePosition message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.MessagePosition & pubsub.MessagePosition.$Shape} MessagePosition
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.MessagePosition & pubsub.MessagePosition.$Shape;
    }

    namespace MessagePosition {

        /** Properties of a MessagePosition. */
        interface $Properties {

            /** MessagePosition topic */
            topic?: (string|null);

            /** MessagePosition partition */
            partition?: (number|null);

            /** MessagePosition offset */
            offset?: (number|Long|null);

            /** MessagePosition position */
            position?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a MessagePosition. */
        type $Shape = pubsub.MessagePosition.$Properties;
    }

    /**
     * Properties of a CmdAck.
     * @deprecated Use pubsub.CmdAck.$Properties instead.
     */
    interface ICmdAck extends pubsub.CmdAck.$Properties {
    }

    /** Represents a CmdAck. */
    class CmdAck {

        /**
         * Constructs a new CmdAck.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdAck.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdAck subscriptionId. */
        subscriptionId: (number|Long);

        /** CmdAck positions. */
        positions: pubsub.MessagePosition.$Properties[];

        /**
         * Creates a new CmdAck instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdAck instance
         */
        static create(properties: pubsub.CmdAck.$Shape): pubsub.CmdAck & pubsub.CmdAck.$Shape;
        static create(properties?: pubsub.CmdAck.$Properties): pubsub.CmdAck;

        /**
         * Encodes the specified CmdAck message. Does not implicitly {@link pubsub.CmdAck.verify|verify} messages.
         * @param message CmdAck message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdAck.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdAck message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdAck & pubsub.CmdAck.$Shape} CmdAck
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdAck & pubsub.CmdAck.$Shape;
    }

    namespace CmdAck {

        /** Properties of a CmdAck. */
        interface $Properties {

            /** CmdAck subscriptionId */
            subscriptionId?: (number|Long|null);

            /** CmdAck positions */
            positions?: (pubsub.MessagePosition.$Properties[]|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdAck. */
        type $Shape = pubsub.CmdAck.$Properties;
    }

    /**
     * Properties of a CmdNack.
     * @deprecated Use pubsub.CmdNack.$Properties instead.
     */
    interface ICmdNack extends pubsub.CmdNack.$Properties {
    }

    /** Represents a CmdNack. */
    class CmdNack {

        /**
         * Constructs a new CmdNack.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.CmdNack.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** CmdNack subscriptionId. */
        subscriptionId: (number|Long);

        /** CmdNack positions. */
        positions: pubsub.MessagePosition.$Properties[];

        /** CmdNack delayMs. */
        delayMs: (number|Long);

        /**
         * Creates a new CmdNack instance using the specified properties.
         * @param [properties] Properties to set
         * @returns CmdNack instance
         */
        static create(properties: pubsub.CmdNack.$Shape): pubsub.CmdNack & pubsub.CmdNack.$Shape;
        static create(properties?: pubsub.CmdNack.$Properties): pubsub.CmdNack;

        /**
         * Encodes the specified CmdNack message. Does not implicitly {@link pubsub.CmdNack.verify|verify} messages.
         * @param message CmdNack message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.CmdNack.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a CmdNack message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.CmdNack & pubsub.CmdNack.$Shape} CmdNack
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.CmdNack & pubsub.CmdNack.$Shape;
    }

    namespace CmdNack {

        /** Properties of a CmdNack. */
        interface $Properties {

            /** CmdNack subscriptionId */
            subscriptionId?: (number|Long|null);

            /** CmdNack positions */
            positions?: (pubsub.MessagePosition.$Properties[]|null);

            /** CmdNack delayMs */
            delayMs?: (number|Long|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a CmdNack. */
        type $Shape = pubsub.CmdNack.$Properties;
    }

    /**
     * Properties of a PubSubReq.
     * @deprecated Use pubsub.PubSubReq.$Properties instead.
     */
    interface IPubSubReq extends pubsub.PubSubReq.$Properties {
    }

    /** Represents a PubSubReq. */
    class PubSubReq {

        /**
         * Constructs a new PubSubReq.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.PubSubReq.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** PubSubReq sequence. */
        sequence: (number|Long);

        /** PubSubReq cmdEmpty. */
        cmdEmpty?: (pubsub.CmdEmpty.$Properties|null);

        /** PubSubReq cmdPing. */
        cmdPing?: (pubsub.CmdPing.$Properties|null);

        /** PubSubReq cmdKafkaFetch. */
        cmdKafkaFetch?: (pubsub.CmdKafkaFetch.$Properties|null);

        /** PubSubReq cmdKafkaListOffset. */
        cmdKafkaListOffset?: (pubsub.CmdKafkaListOffset.$Properties|null);

        /** PubSubReq cmdKafkaProduce. */
        cmdKafkaProduce?: (pubsub.CmdKafkaProduce.$Properties|null);

        /** PubSubReq cmdKafkaSubscribe. */
        cmdKafkaSubscribe?: (pubsub.CmdKafkaSubscribe.$Properties|null);

        /** PubSubReq cmdUnsubscribe. */
        cmdUnsubscribe?: (pubsub.CmdUnsubscribe.$Properties|null);

        /** PubSubReq cmdKafkaCommit. */
        cmdKafkaCommit?: (pubsub.CmdKafkaCommit.$Properties|null);

        /** PubSubReq cmdKafkaMetadata. */
        cmdKafkaMetadata?: (pubsub.CmdKafkaMetadata.$Properties|null);

        /** PubSubReq cmdRefresh. */
        cmdRefresh?: (pubsub.CmdRefresh.$Properties|null);

        /** PubSubReq cmdRouteInfo. */
        cmdRouteInfo?: (pubsub.CmdRouteInfo.$Properties|null);

        /** PubSubReq cmdAck. */
        cmdAck?: (pubsub.CmdAck.$Properties|null);

        /** PubSubReq cmdNack. */
        cmdNack?: (pubsub.CmdNack.$Properties|null);

        /** PubSubReq req. */
        req?: ("cmdEmpty"|"cmdPing"|"cmdKafkaFetch"|"cmdKafkaListOffset"|"cmdKafkaProduce"|"cmdKafkaSubscribe"|"cmdUnsubscribe"|"cmdKafkaCommit"|"cmdKafkaMetadata"|"cmdRefresh"|"cmdRouteInfo"|"cmdAck"|"cmdNack");

        /**
         * Creates a new PubSubReq instance using the specified properties.
         * @param [properties] Properties to set
         * @returns PubSubReq instance
         */
        static create(properties: pubsub.PubSubReq.$Shape): pubsub.PubSubReq & pubsub.PubSubReq.$Shape;
        static create(properties?: pubsub.PubSubReq.$Properties): pubsub.PubSubReq;

        /**
         * Encodes the specified PubSubReq message. Does not implicitly {@link pubsub.PubSubReq.verify|verify} messages.
         * @param message PubSubReq message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.PubSubReq.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a PubSubReq message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.PubSubReq & pubsub.PubSubReq.$Shape} PubSubReq
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.PubSubReq & pubsub.PubSubReq.$Shape;
    }

    namespace PubSubReq {

        /** Properties of a PubSubReq. */
        interface $Properties {

            /** PubSubReq sequence */
            sequence?: (number|Long|null);

            /** PubSubReq cmdEmpty */
            cmdEmpty?: (pubsub.CmdEmpty.$Properties|null);

            /** PubSubReq cmdPing */
            cmdPing?: (pubsub.CmdPing.$Properties|null);

            /** PubSubReq cmdKafkaFetch */
            cmdKafkaFetch?: (pubsub.CmdKafkaFetch.$Properties|null);

            /** PubSubReq cmdKafkaListOffset */
            cmdKafkaListOffset?: (pubsub.CmdKafkaListOffset.$Properties|null);

            /** PubSubReq cmdKafkaProduce */
            cmdKafkaProduce?: (pubsub.CmdKafkaProduce.$Properties|null);

            /** PubSubReq cmdKafkaSubscribe */
            cmdKafkaSubscribe?: (pubsub.CmdKafkaSubscribe.$Properties|null);

            /** PubSubReq cmdUnsubscribe */
            cmdUnsubscribe?: (pubsub.CmdUnsubscribe.$Properties|null);

            /** PubSubReq cmdKafkaCommit */
            cmdKafkaCommit?: (pubsub.CmdKafkaCommit.$Properties|null);

            /** PubSubReq cmdKafkaMetadata */
            cmdKafkaMetadata?: (pubsub.CmdKafkaMetadata.$Properties|null);

            /** PubSubReq cmdRefresh */
            cmdRefresh?: (pubsub.CmdRefresh.$Properties|null);

            /** PubSubReq cmdRouteInfo */
            cmdRouteInfo?: (pubsub.CmdRouteInfo.$Properties|null);

            /** PubSubReq cmdAck */
            cmdAck?: (pubsub.CmdAck.$Properties|null);

            /** PubSubReq cmdNack */
            cmdNack?: (pubsub.CmdNack.$Properties|null);

            /** PubSubReq req */
            req?: ("cmdEmpty"|"cmdPing"|"cmdKafkaFetch"|"cmdKafkaListOffset"|"cmdKafkaProduce"|"cmdKafkaSubscribe"|"cmdUnsubscribe"|"cmdKafkaCommit"|"cmdKafkaMetadata"|"cmdRefresh"|"cmdRouteInfo"|"cmdAck"|"cmdNack");

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Narrowed shape of a PubSubReq. */
        type $Shape = {
          sequence?: number|Long|null;
          cmdEmpty?: pubsub.CmdEmpty.$Shape|null;
          cmdPing?: pubsub.CmdPing.$Shape|null;
          cmdKafkaFetch?: pubsub.CmdKafkaFetch.$Shape|null;
          cmdKafkaListOffset?: pubsub.CmdKafkaListOffset.$Shape|null;
          cmdKafkaProduce?: pubsub.CmdKafkaProduce.$Shape|null;
          cmdKafkaSubscribe?: pubsub.CmdKafkaSubscribe.$Shape|null;
          cmdUnsubscribe?: pubsub.CmdUnsubscribe.$Shape|null;
          cmdKafkaCommit?: pubsub.CmdKafkaCommit.$Shape|null;
          cmdKafkaMetadata?: pubsub.CmdKafkaMetadata.$Shape|null;
          cmdRefresh?: pubsub.CmdRefresh.$Shape|null;
          cmdRouteInfo?: pubsub.CmdRouteInfo.$Shape|null;
          cmdAck?: pubsub.CmdAck.$Shape|null;
          cmdNack?: pubsub.CmdNack.$Shape|null;
          $unknowns?: Uint8Array[];
        } & (
          ({ req?: undefined; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdEmpty"; cmdEmpty: pubsub.CmdEmpty.$Shape; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdPing"; cmdEmpty?: null; cmdPing: pubsub.CmdPing.$Shape; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaFetch"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch: pubsub.CmdKafkaFetch.$Shape; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaListOffset"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset: pubsub.CmdKafkaListOffset.$Shape; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaProduce"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce: pubsub.CmdKafkaProduce.$Shape; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaSubscribe"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe: pubsub.CmdKafkaSubscribe.$Shape; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdUnsubscribe"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe: pubsub.CmdUnsubscribe.$Shape; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaCommit"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit: pubsub.CmdKafkaCommit.$Shape; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdKafkaMetadata"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata: pubsub.CmdKafkaMetadata.$Shape; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdRefresh"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh: pubsub.CmdRefresh.$Shape; cmdRouteInfo?: null; cmdAck?: null; cmdNack?: null }|{ req?: "cmdRouteInfo"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo: pubsub.CmdRouteInfo.$Shape; cmdAck?: null; cmdNack?: null }|{ req?: "cmdAck"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck: pubsub.CmdAck.$Shape; cmdNack?: null }|{ req?: "cmdNack"; cmdEmpty?: null; cmdPing?: null; cmdKafkaFetch?: null; cmdKafkaListOffset?: null; cmdKafkaProduce?: null; cmdKafkaSubscribe?: null; cmdUnsubscribe?: null; cmdKafkaCommit?: null; cmdKafkaMetadata?: null; cmdRefresh?: null; cmdRouteInfo?: null; cmdAck?: null; cmdNack: pubsub.CmdNack.$Shape })
        );
    }

    /**
     * Properties of an ErrorResp.
     * @deprecated Use pubsub.ErrorResp.$Properties instead.
     */
    interface IErrorResp extends pubsub.ErrorResp.$Properties {
    }

    /** Represents an ErrorResp. */
    class ErrorResp {

        /**
         * Constructs a new ErrorResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.ErrorResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** ErrorResp code. */
        code: number;

        /** ErrorResp message. */
        message: string;

        /**
         * Creates a new ErrorResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns ErrorResp instance
         */
        static create(properties: pubsub.ErrorResp.$Shape): pubsub.ErrorResp & pubsub.ErrorResp.$Shape;
        static create(properties?: pubsub.ErrorResp.$Properties): pubsub.ErrorResp;

        /**
         * Encodes the specified ErrorResp message. Does not implicitly {@link pubsub.ErrorResp.verify|verify} messages.
         * @param message ErrorResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.ErrorResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes an ErrorResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.ErrorResp & pubsub.ErrorResp.$Shape} ErrorResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.ErrorResp & pubsub.ErrorResp.$Shape;
    }

    namespace ErrorResp {

        /** Properties of an ErrorResp. */
        interface $Properties {

            /** ErrorResp code */
            code?: (number|null);

            /** ErrorResp message */
            message?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of an ErrorResp. */
        type $Shape = pubsub.ErrorResp.$Properties;
    }

    /**
     * Properties of a PongResp.
     * @deprecated Use pubsub.PongResp.$Properties instead.
     */
    interface IPongResp extends pubsub.PongResp.$Properties {
    }

    /** Represents a PongResp. */
    class PongResp {

        /**
         * Constructs a new PongResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.PongResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** PongResp state. */
        state: Uint8Array;

        /**
         * Creates a new PongResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns PongResp instance
         */
        static create(properties: pubsub.PongResp.$Shape): pubsub.PongResp & pubsub.PongResp.$Shape;
        static create(properties?: pubsub.PongResp.$Properties): pubsub.PongResp;

        /**
         * Encodes the specified PongResp message. Does not implicitly {@link pubsub.PongResp.verify|verify} messages.
         * @param message PongResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.PongResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a PongResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.PongResp & pubsub.PongResp.$Shape} PongResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.PongResp & pubsub.PongResp.$Shape;
    }

    namespace PongResp {

        /** Properties of a PongResp. */
        interface $Properties {

            /** PongResp state */
            state?: (Uint8Array|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a PongResp. */
        type $Shape = pubsub.PongResp.$Properties;
    }

    /**
     * Properties of a KafkaMessage.
     * @deprecated Use pubsub.KafkaMessage.$Properties instead.
     */
    interface IKafkaMessage extends pubsub.KafkaMessage.$Properties {
    }

    /** Represents a KafkaMessage. */
    class KafkaMessage {

        /**
         * Constructs a new KafkaMessage.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaMessage.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaMessage offset. */
        offset: (number|Long);

        /** KafkaMessage timestamp. */
        timestamp: (number|Long);

        /** KafkaMessage key. */
        key: Uint8Array;

        /** KafkaMessage value. */
        value: Uint8Array;

        /** KafkaMessage headers. */
        headers: pubsub.KafkaHeader.$Properties[];

        /** KafkaMessage partition. */
        partition: number;

        /** KafkaMessage topic. */
        topic: string;

        /** KafkaMessage position. */
        position: string;

        /** KafkaMessage epoch. */
        epoch: (number|Long);

        /** KafkaMessage deliveryAttempt. */
        deliveryAttempt: number;

        /**
         * Creates a new KafkaMessage instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaMessage instance
         */
        static create(properties: pubsub.KafkaMessage.$Shape): pubsub.KafkaMessage & pubsub.KafkaMessage.$Shape;
        static create(properties?: pubsub.KafkaMessage.$Properties): pubsub.KafkaMessage;

        /**
         * Encodes the specified KafkaMessage message. Does not implicitly {@link pubsub.KafkaMessage.verify|verify} messages.
         * @param message KafkaMessage message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaMessage.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaMessage message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaMessage & pubsub.KafkaMessage.$Shape} KafkaMessage
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaMessage & pubsub.KafkaMessage.$Shape;
    }

    namespace KafkaMessage {

        /** Properties of a KafkaMessage. */
        interface $Properties {

            /** KafkaMessage offset */
            offset?: (number|Long|null);

            /** KafkaMessage timestamp */
            timestamp?: (number|Long|null);

            /** KafkaMessage key */
            key?: (Uint8Array|null);

            /** KafkaMessage value */
            value?: (Uint8Array|null);

            /** KafkaMessage headers */
            headers?: (pubsub.KafkaHeader.$Properties[]|null);

            /** KafkaMessage partition */
            partition?: (number|null);

            /** KafkaMessage topic */
            topic?: (string|null);

            /** KafkaMessage position */
            position?: (string|null);

            /** KafkaMessage epoch */
            epoch?: (number|Long|null);

            /** KafkaMessage deliveryAttempt */
            deliveryAttempt?: (number|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaMessage. */
        type $Shape = pubsub.KafkaMessage.$Properties;
    }

    /**
     * Properties of a KafkaFetchResp.
     * @deprecated Use pubsub.KafkaFetchResp.$Properties instead.
     */
    interface IKafkaFetchResp extends pubsub.KafkaFetchResp.$Properties {
    }

    /** Represents a KafkaFetchResp. */
    class KafkaFetchResp {

        /**
         * Constructs a new KafkaFetchResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaFetchResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaFetchResp messages. */
        messages: pubsub.KafkaMessage.$Properties[];

        /**
         * Creates a new KafkaFetchResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaFetchResp instance
         */
        static create(properties: pubsub.KafkaFetchResp.$Shape): pubsub.KafkaFetchResp & pubsub.KafkaFetchResp.$Shape;
        static create(properties?: pubsub.KafkaFetchResp.$Properties): pubsub.KafkaFetchResp;

        /**
         * Encodes the specified KafkaFetchResp message. Does not implicitly {@link pubsub.KafkaFetchResp.verify|verify} messages.
         * @param message KafkaFetchResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaFetchResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaFetchResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaFetchResp & pubsub.KafkaFetchResp.$Shape} KafkaFetchResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaFetchResp & pubsub.KafkaFetchResp.$Shape;
    }

    namespace KafkaFetchResp {

        /** Properties of a KafkaFetchResp. */
        interface $Properties {

            /** KafkaFetchResp messages */
            messages?: (pubsub.KafkaMessage.$Properties[]|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaFetchResp. */
        type $Shape = pubsub.KafkaFetchResp.$Properties;
    }

    /**
     * Properties of a KafkaListOffsetResp.
     * @deprecated Use pubsub.KafkaListOffsetResp.$Properties instead.
     */
    interface IKafkaListOffsetResp extends pubsub.KafkaListOffsetResp.$Properties {
    }

    /** Represents a KafkaListOffsetResp. */
    class KafkaListOffsetResp {

        /**
         * Constructs a new KafkaListOffsetResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaListOffsetResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaListOffsetResp offset. */
        offset: (number|Long);

        /**
         * Creates a new KafkaListOffsetResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaListOffsetResp instance
         */
        static create(properties: pubsub.KafkaListOffsetResp.$Shape): pubsub.KafkaListOffsetResp & pubsub.KafkaListOffsetResp.$Shape;
        static create(properties?: pubsub.KafkaListOffsetResp.$Properties): pubsub.KafkaListOffsetResp;

        /**
         * Encodes the specified KafkaListOffsetResp message. Does not implicitly {@link pubsub.KafkaListOffsetResp.verify|verify} messages.
         * @param message KafkaListOffsetResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaListOffsetResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaListOffsetResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaListOffsetResp & pubsub.KafkaListOffsetResp.$Shape} KafkaListOffsetResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaListOffsetResp & pubsub.KafkaListOffsetResp.$Shape;
    }

    namespace KafkaListOffsetResp {

        /** Properties of a KafkaListOffsetResp. */
        interface $Properties {

            /** KafkaListOffsetResp offset */
            offset?: (number|Long|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaListOffsetResp. */
        type $Shape = pubsub.KafkaListOffsetResp.$Properties;
    }

    /**
     * Properties of a KafkaProduceResp.
     * @deprecated Use pubsub.KafkaProduceResp.$Properties instead.
     */
    interface IKafkaProduceResp extends pubsub.KafkaProduceResp.$Properties {
    }

    /** Represents a KafkaProduceResp. */
    class KafkaProduceResp {

        /**
         * Constructs a new KafkaProduceResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaProduceResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaProduceResp partition. */
        partition: number;

        /** KafkaProduceResp offset. */
        offset: (number|Long);

        /** KafkaProduceResp position. */
        position: string;

        /**
         * Creates a new KafkaProduceResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaProduceResp instance
         */
        static create(properties: pubsub.KafkaProduceResp.$Shape): pubsub.KafkaProduceResp & pubsub.KafkaProduceResp.$Shape;
        static create(properties?: pubsub.KafkaProduceResp.$Properties): pubsub.KafkaProduceResp;

        /**
         * Encodes the specified KafkaProduceResp message. Does not implicitly {@link pubsub.KafkaProduceResp.verify|verify} messages.
         * @param message KafkaProduceResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaProduceResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaProduceResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaProduceResp & pubsub.KafkaProduceResp.$Shape} KafkaProduceResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaProduceResp & pubsub.KafkaProduceResp.$Shape;
    }

    namespace KafkaProduceResp {

        /** Properties of a KafkaProduceResp. */
        interface $Properties {

            /** KafkaProduceResp partition */
            partition?: (number|null);

            /** KafkaProduceResp offset */
            offset?: (number|Long|null);

            /** KafkaProduceResp position */
            position?: (string|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaProduceResp. */
        type $Shape = pubsub.KafkaProduceResp.$Properties;
    }

    /**
     * Properties of a KafkaSubscribeResp.
     * @deprecated Use pubsub.KafkaSubscribeResp.$Properties instead.
     */
    interface IKafkaSubscribeResp extends pubsub.KafkaSubscribeResp.$Properties {
    }

    /** Represents a KafkaSubscribeResp. */
    class KafkaSubscribeResp {

        /**
         * Constructs a new KafkaSubscribeResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaSubscribeResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaSubscribeResp subscriptionId. */
        subscriptionId: (number|Long);

        /**
         * Creates a new KafkaSubscribeResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaSubscribeResp instance
         */
        static create(properties: pubsub.KafkaSubscribeResp.$Shape): pubsub.KafkaSubscribeResp & pubsub.KafkaSubscribeResp.$Shape;
        static create(properties?: pubsub.KafkaSubscribeResp.$Properties): pubsub.KafkaSubscribeResp;

        /**
         * Encodes the specified KafkaSubscribeResp message. Does not implicitly {@link pubsub.KafkaSubscribeResp.verify|verify} messages.
         * @param message KafkaSubscribeResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaSubscribeResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaSubscribeResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaSubscribeResp & pubsub.KafkaSubscribeResp.$Shape} KafkaSubscribeResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaSubscribeResp & pubsub.KafkaSubscribeResp.$Shape;
    }

    namespace KafkaSubscribeResp {

        /** Properties of a KafkaSubscribeResp. */
        interface $Properties {

            /** KafkaSubscribeResp subscriptionId */
            subscriptionId?: (number|Long|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaSubscribeResp. */
        type $Shape = pubsub.KafkaSubscribeResp.$Properties;
    }

    /**
     * Properties of a KafkaPush.
     * @deprecated Use pubsub.KafkaPush.$Properties instead.
     */
    interface IKafkaPush extends pubsub.KafkaPush.$Properties {
    }

    /** Represents a KafkaPush. */
    class KafkaPush {

        /**
         * Constructs a new KafkaPush.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaPush.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaPush subscriptionId. */
        subscriptionId: (number|Long);

        /** KafkaPush messages. */
        messages: pubsub.KafkaMessage.$Properties[];

        /** KafkaPush reset. */
        reset: boolean;

        /** KafkaPush dropped. */
        dropped: (number|Long);

        /**
         * Creates a new KafkaPush instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaPush instance
         */
        static create(properties: pubsub.KafkaPush.$Shape): pubsub.KafkaPush & pubsub.KafkaPush.$Shape;
        static create(properties?: pubsub.KafkaPush.$Properties): pubsub.KafkaPush;

        /**
         * Encodes the specified KafkaPush message. Does not implicitly {@link pubsub.KafkaPush.verify|verify} messages.
         * @param message KafkaPush message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaPush.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaPush message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaPush & pubsub.KafkaPush.$Shape} KafkaPush
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaPush & pubsub.KafkaPush.$Shape;
    }

    namespace KafkaPush {

        /** Properties of a KafkaPush. */
        interface $Properties {

            /** KafkaPush subscriptionId */
            subscriptionId?: (number|Long|null);

            /** KafkaPush messages */
            messages?: (pubsub.KafkaMessage.$Properties[]|null);

            /** KafkaPush reset */
            reset?: (boolean|null);

            /** KafkaPush dropped */
            dropped?: (number|Long|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaPush. */
        type $Shape = pubsub.KafkaPush.$Properties;
    }

    /**
     * Properties of an OkResp.
     * @deprecated Use pubsub.OkResp.$Properties instead.
     */
    interface IOkResp extends pubsub.OkResp.$Properties {
    }

    /** Represents an OkResp. */
    class OkResp {

        /**
         * Constructs a new OkResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.OkResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /**
         * Creates a new OkResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns OkResp instance
         */
        static create(properties: pubsub.OkResp.$Shape): pubsub.OkResp & pubsub.OkResp.$Shape;
        static create(properties?: pubsub.OkResp.$Properties): pubsub.OkResp;

        /**
         * Encodes the specified OkResp message. Does not implicitly {@link pubsub.OkResp.verify|verify} messages.
         * @param message OkResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.OkResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes an OkResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.OkResp & pubsub.OkResp.$Shape} OkResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.OkResp & pubsub.OkResp.$Shape;
    }

    namespace OkResp {

        /** Properties of an OkResp. */
        interface $Properties {

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of an OkResp. */
        type $Shape = pubsub.OkResp.$Properties;
    }

    /**
     * Properties of a KafkaPartitionInfo.
     * @deprecated Use pubsub.KafkaPartitionInfo.$Properties instead.
     */
    interface IKafkaPartitionInfo extends pubsub.KafkaPartitionInfo.$Properties {
    }

    /** Represents a KafkaPartitionInfo. */
    class KafkaPartitionInfo {

        /**
         * Constructs a new KafkaPartitionInfo.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaPartitionInfo.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaPartitionInfo partition. */
        partition: number;

        /** KafkaPartitionInfo earliest. */
        earliest: (number|Long);

        /** KafkaPartitionInfo latest. */
        latest: (number|Long);

        /** KafkaPartitionInfo epoch. */
        epoch: (number|Long);

        /**
         * Creates a new KafkaPartitionInfo instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaPartitionInfo instance
         */
        static create(properties: pubsub.KafkaPartitionInfo.$Shape): pubsub.KafkaPartitionInfo & pubsub.KafkaPartitionInfo.$Shape;
        static create(properties?: pubsub.KafkaPartitionInfo.$Properties): pubsub.KafkaPartitionInfo;

        /**
         * Encodes the specified KafkaPartitionInfo message. Does not implicitly {@link pubsub.KafkaPartitionInfo.verify|verify} messages.
         * @param message KafkaPartitionInfo message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaPartitionInfo.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaPartitionInfo message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaPartitionInfo & pubsub.KafkaPartitionInfo.$Shape} KafkaPartitionInfo
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaPartitionInfo & pubsub.KafkaPartitionInfo.$Shape;
    }

    namespace KafkaPartitionInfo {

        /** Properties of a KafkaPartitionInfo. */
        interface $Properties {

            /** KafkaPartitionInfo partition */
            partition?: (number|null);

            /** KafkaPartitionInfo earliest */
            earliest?: (number|Long|null);

            /** KafkaPartitionInfo latest */
            latest?: (number|Long|null);

            /** KafkaPartitionInfo epoch */
            epoch?: (number|Long|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaPartitionInfo. */
        type $Shape = pubsub.KafkaPartitionInfo.$Properties;
    }

    /**
     * Properties of a KafkaMetadataResp.
     * @deprecated Use pubsub.KafkaMetadataResp.$Properties instead.
     */
    interface IKafkaMetadataResp extends pubsub.KafkaMetadataResp.$Properties {
    }

    /** Represents a KafkaMetadataResp. */
    class KafkaMetadataResp {

        /**
         * Constructs a new KafkaMetadataResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.KafkaMetadataResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** KafkaMetadataResp topic. */
        topic: string;

        /** KafkaMetadataResp partitions. */
        partitions: pubsub.KafkaPartitionInfo.$Properties[];

        /**
         * Creates a new KafkaMetadataResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns KafkaMetadataResp instance
         */
        static create(properties: pubsub.KafkaMetadataResp.$Shape): pubsub.KafkaMetadataResp & pubsub.KafkaMetadataResp.$Shape;
        static create(properties?: pubsub.KafkaMetadataResp.$Properties): pubsub.KafkaMetadataResp;

        /**
         * Encodes the specified KafkaMetadataResp message. Does not implicitly {@link pubsub.KafkaMetadataResp.verify|verify} messages.
         * @param message KafkaMetadataResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.KafkaMetadataResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a KafkaMetadataResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.KafkaMetadataResp & pubsub.KafkaMetadataResp.$Shape} KafkaMetadataResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.KafkaMetadataResp & pubsub.KafkaMetadataResp.$Shape;
    }

    namespace KafkaMetadataResp {

        /** Properties of a KafkaMetadataResp. */
        interface $Properties {

            /** KafkaMetadataResp topic */
            topic?: (string|null);

            /** KafkaMetadataResp partitions */
            partitions?: (pubsub.KafkaPartitionInfo.$Properties[]|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a KafkaMetadataResp. */
        type $Shape = pubsub.KafkaMetadataResp.$Properties;
    }

    /**
     * Properties of a RouteCapabilities.
     * @deprecated Use pubsub.RouteCapabilities.$Properties instead.
     */
    interface IRouteCapabilities extends pubsub.RouteCapabilities.$Properties {
    }

    /** Represents a RouteCapabilities. */
    class RouteCapabilities {

        /**
         * Constructs a new RouteCapabilities.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.RouteCapabilities.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** RouteCapabilities history. */
        history: boolean;

        /** RouteCapabilities starts. */
        starts: pubsub.StartPosition[];

        /** RouteCapabilities fetch. */
        fetch: boolean;

        /** RouteCapabilities timeLookup. */
        timeLookup: boolean;

        /** RouteCapabilities offsets. */
        offsets: boolean;

        /** RouteCapabilities groups. */
        groups: boolean;

        /** RouteCapabilities ack. */
        ack: boolean;

        /** RouteCapabilities nack. */
        nack: boolean;

        /** RouteCapabilities commit. */
        commit: boolean;

        /** RouteCapabilities wildcards. */
        wildcards: string;

        /** RouteCapabilities headers. */
        headers: boolean;

        /** RouteCapabilities keys. */
        keys: boolean;

        /** RouteCapabilities partitions. */
        partitions: boolean;

        /** RouteCapabilities stringPositions. */
        stringPositions: boolean;

        /** RouteCapabilities epochs. */
        epochs: boolean;

        /**
         * Creates a new RouteCapabilities instance using the specified properties.
         * @param [properties] Properties to set
         * @returns RouteCapabilities instance
         */
        static create(properties: pubsub.RouteCapabilities.$Shape): pubsub.RouteCapabilities & pubsub.RouteCapabilities.$Shape;
        static create(properties?: pubsub.RouteCapabilities.$Properties): pubsub.RouteCapabilities;

        /**
         * Encodes the specified RouteCapabilities message. Does not implicitly {@link pubsub.RouteCapabilities.verify|verify} messages.
         * @param message RouteCapabilities message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.RouteCapabilities.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a RouteCapabilities message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.RouteCapabilities & pubsub.RouteCapabilities.$Shape} RouteCapabilities
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.RouteCapabilities & pubsub.RouteCapabilities.$Shape;
    }

    namespace RouteCapabilities {

        /** Properties of a RouteCapabilities. */
        interface $Properties {

            /** RouteCapabilities history */
            history?: (boolean|null);

            /** RouteCapabilities starts */
            starts?: (pubsub.StartPosition[]|null);

            /** RouteCapabilities fetch */
            fetch?: (boolean|null);

            /** RouteCapabilities timeLookup */
            timeLookup?: (boolean|null);

            /** RouteCapabilities offsets */
            offsets?: (boolean|null);

            /** RouteCapabilities groups */
            groups?: (boolean|null);

            /** RouteCapabilities ack */
            ack?: (boolean|null);

            /** RouteCapabilities nack */
            nack?: (boolean|null);

            /** RouteCapabilities commit */
            commit?: (boolean|null);

            /** RouteCapabilities wildcards */
            wildcards?: (string|null);

            /** RouteCapabilities headers */
            headers?: (boolean|null);

            /** RouteCapabilities keys */
            keys?: (boolean|null);

            /** RouteCapabilities partitions */
            partitions?: (boolean|null);

            /** RouteCapabilities stringPositions */
            stringPositions?: (boolean|null);

            /** RouteCapabilities epochs */
            epochs?: (boolean|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a RouteCapabilities. */
        type $Shape = pubsub.RouteCapabilities.$Properties;
    }

    /**
     * Properties of a RouteInfoResp.
     * @deprecated Use pubsub.RouteInfoResp.$Properties instead.
     */
    interface IRouteInfoResp extends pubsub.RouteInfoResp.$Properties {
    }

    /** Represents a RouteInfoResp. */
    class RouteInfoResp {

        /**
         * Constructs a new RouteInfoResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.RouteInfoResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** RouteInfoResp route. */
        route: string;

        /** RouteInfoResp scheme. */
        scheme: string;

        /** RouteInfoResp capabilities. */
        capabilities?: (pubsub.RouteCapabilities.$Properties|null);

        /**
         * Creates a new RouteInfoResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns RouteInfoResp instance
         */
        static create(properties: pubsub.RouteInfoResp.$Shape): pubsub.RouteInfoResp & pubsub.RouteInfoResp.$Shape;
        static create(properties?: pubsub.RouteInfoResp.$Properties): pubsub.RouteInfoResp;

        /**
         * Encodes the specified RouteInfoResp message. Does not implicitly {@link pubsub.RouteInfoResp.verify|verify} messages.
         * @param message RouteInfoResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.RouteInfoResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a RouteInfoResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.RouteInfoResp & pubsub.RouteInfoResp.$Shape} RouteInfoResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.RouteInfoResp & pubsub.RouteInfoResp.$Shape;
    }

    namespace RouteInfoResp {

        /** Properties of a RouteInfoResp. */
        interface $Properties {

            /** RouteInfoResp route */
            route?: (string|null);

            /** RouteInfoResp scheme */
            scheme?: (string|null);

            /** RouteInfoResp capabilities */
            capabilities?: (pubsub.RouteCapabilities.$Properties|null);

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Shape of a RouteInfoResp. */
        type $Shape = pubsub.RouteInfoResp.$Properties;
    }

    /**
     * Properties of a PubSubResp.
     * @deprecated Use pubsub.PubSubResp.$Properties instead.
     */
    interface IPubSubResp extends pubsub.PubSubResp.$Properties {
    }

    /** Represents a PubSubResp. */
    class PubSubResp {

        /**
         * Constructs a new PubSubResp.
         * @param [properties] Properties to set
         */
        constructor(properties?: pubsub.PubSubResp.$Properties);

        /** Unknown fields preserved while decoding when enabled */
        $unknowns?: Uint8Array[];

        /** PubSubResp sequence. */
        sequence: (number|Long);

        /** PubSubResp errorResp. */
        errorResp?: (pubsub.ErrorResp.$Properties|null);

        /** PubSubResp pongResp. */
        pongResp?: (pubsub.PongResp.$Properties|null);

        /** PubSubResp kafkaFetchResp. */
        kafkaFetchResp?: (pubsub.KafkaFetchResp.$Properties|null);

        /** PubSubResp kafkaListOffsetResp. */
        kafkaListOffsetResp?: (pubsub.KafkaListOffsetResp.$Properties|null);

        /** PubSubResp kafkaProduceResp. */
        kafkaProduceResp?: (pubsub.KafkaProduceResp.$Properties|null);

        /** PubSubResp kafkaSubscribeResp. */
        kafkaSubscribeResp?: (pubsub.KafkaSubscribeResp.$Properties|null);

        /** PubSubResp kafkaPush. */
        kafkaPush?: (pubsub.KafkaPush.$Properties|null);

        /** PubSubResp okResp. */
        okResp?: (pubsub.OkResp.$Properties|null);

        /** PubSubResp kafkaMetadataResp. */
        kafkaMetadataResp?: (pubsub.KafkaMetadataResp.$Properties|null);

        /** PubSubResp routeInfoResp. */
        routeInfoResp?: (pubsub.RouteInfoResp.$Properties|null);

        /** PubSubResp resp. */
        resp?: ("errorResp"|"pongResp"|"kafkaFetchResp"|"kafkaListOffsetResp"|"kafkaProduceResp"|"kafkaSubscribeResp"|"kafkaPush"|"okResp"|"kafkaMetadataResp"|"routeInfoResp");

        /**
         * Creates a new PubSubResp instance using the specified properties.
         * @param [properties] Properties to set
         * @returns PubSubResp instance
         */
        static create(properties: pubsub.PubSubResp.$Shape): pubsub.PubSubResp & pubsub.PubSubResp.$Shape;
        static create(properties?: pubsub.PubSubResp.$Properties): pubsub.PubSubResp;

        /**
         * Encodes the specified PubSubResp message. Does not implicitly {@link pubsub.PubSubResp.verify|verify} messages.
         * @param message PubSubResp message or plain object to encode
         * @param [writer] Writer to encode to
         * @returns Writer
         */
        static encode(message: pubsub.PubSubResp.$Properties, writer?: $protobuf.Writer): $protobuf.Writer;

        /**
         * Decodes a PubSubResp message from the specified reader or buffer.
         * @param reader Reader or buffer to decode from
         * @param [length] Message length if known beforehand
         * @returns {pubsub.PubSubResp & pubsub.PubSubResp.$Shape} PubSubResp
         * @throws {Error} If the payload is not a reader or valid buffer
         * @throws {$protobuf.util.ProtocolError} If required fields are missing
         */
        static decode(reader: ($protobuf.Reader|Uint8Array), length?: number): pubsub.PubSubResp & pubsub.PubSubResp.$Shape;
    }

    namespace PubSubResp {

        /** Properties of a PubSubResp. */
        interface $Properties {

            /** PubSubResp sequence */
            sequence?: (number|Long|null);

            /** PubSubResp errorResp */
            errorResp?: (pubsub.ErrorResp.$Properties|null);

            /** PubSubResp pongResp */
            pongResp?: (pubsub.PongResp.$Properties|null);

            /** PubSubResp kafkaFetchResp */
            kafkaFetchResp?: (pubsub.KafkaFetchResp.$Properties|null);

            /** PubSubResp kafkaListOffsetResp */
            kafkaListOffsetResp?: (pubsub.KafkaListOffsetResp.$Properties|null);

            /** PubSubResp kafkaProduceResp */
            kafkaProduceResp?: (pubsub.KafkaProduceResp.$Properties|null);

            /** PubSubResp kafkaSubscribeResp */
            kafkaSubscribeResp?: (pubsub.KafkaSubscribeResp.$Properties|null);

            /** PubSubResp kafkaPush */
            kafkaPush?: (pubsub.KafkaPush.$Properties|null);

            /** PubSubResp okResp */
            okResp?: (pubsub.OkResp.$Properties|null);

            /** PubSubResp kafkaMetadataResp */
            kafkaMetadataResp?: (pubsub.KafkaMetadataResp.$Properties|null);

            /** PubSubResp routeInfoResp */
            routeInfoResp?: (pubsub.RouteInfoResp.$Properties|null);

            /** PubSubResp resp */
            resp?: ("errorResp"|"pongResp"|"kafkaFetchResp"|"kafkaListOffsetResp"|"kafkaProduceResp"|"kafkaSubscribeResp"|"kafkaPush"|"okResp"|"kafkaMetadataResp"|"routeInfoResp");

            /** Unknown fields preserved while decoding when enabled */
            $unknowns?: Uint8Array[];
        }

        /** Narrowed shape of a PubSubResp. */
        type $Shape = {
          sequence?: number|Long|null;
          errorResp?: pubsub.ErrorResp.$Shape|null;
          pongResp?: pubsub.PongResp.$Shape|null;
          kafkaFetchResp?: pubsub.KafkaFetchResp.$Shape|null;
          kafkaListOffsetResp?: pubsub.KafkaListOffsetResp.$Shape|null;
          kafkaProduceResp?: pubsub.KafkaProduceResp.$Shape|null;
          kafkaSubscribeResp?: pubsub.KafkaSubscribeResp.$Shape|null;
          kafkaPush?: pubsub.KafkaPush.$Shape|null;
          okResp?: pubsub.OkResp.$Shape|null;
          kafkaMetadataResp?: pubsub.KafkaMetadataResp.$Shape|null;
          routeInfoResp?: pubsub.RouteInfoResp.$Shape|null;
          $unknowns?: Uint8Array[];
        } & (
          ({ resp?: undefined; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "errorResp"; errorResp: pubsub.ErrorResp.$Shape; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "pongResp"; errorResp?: null; pongResp: pubsub.PongResp.$Shape; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaFetchResp"; errorResp?: null; pongResp?: null; kafkaFetchResp: pubsub.KafkaFetchResp.$Shape; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaListOffsetResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp: pubsub.KafkaListOffsetResp.$Shape; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaProduceResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp: pubsub.KafkaProduceResp.$Shape; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaSubscribeResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp: pubsub.KafkaSubscribeResp.$Shape; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaPush"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush: pubsub.KafkaPush.$Shape; okResp?: null; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "okResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp: pubsub.OkResp.$Shape; kafkaMetadataResp?: null; routeInfoResp?: null }|{ resp?: "kafkaMetadataResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp: pubsub.KafkaMetadataResp.$Shape; routeInfoResp?: null }|{ resp?: "routeInfoResp"; errorResp?: null; pongResp?: null; kafkaFetchResp?: null; kafkaListOffsetResp?: null; kafkaProduceResp?: null; kafkaSubscribeResp?: null; kafkaPush?: null; okResp?: null; kafkaMetadataResp?: null; routeInfoResp: pubsub.RouteInfoResp.$Shape })
        );
    }
}

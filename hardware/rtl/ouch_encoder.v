// ouch_encoder: accepted orders -> OUCH 5.0 messages on a 64-bit AXI-Stream
// (lane 0 = first byte, one message per packet: tlast on its last beat).
//
// Enter Order 'O' (47 bytes, 6 beats, last tkeep 0x7F):
//   0 'O' | 1 UserRefNum u32 | 5 side 'B'/'S' | 6 quantity u32 | 10 symbol (8)
//   | 18 price u64 (4 implied decimals) | 26 time in force | 27 display
//   | 28 capacity | 29 intermarket sweep | 30 cross_type type | 31 ClOrdID (14:
//   6-char prefix + UserRefNum as 8 upper-case hex digits) | 45 appendage
//   length u16 = 0. All integers big-endian.
// Cancel Order 'X' (9 bytes, 2 beats, last tkeep 0x01):
//   0 'X' | 1 UserRefNum u32 | 5 quantity u32 = 0 (cancel all that is left).
//
// UserRefNums are assigned when an order starts to go out, from `next_ref`
// upwards. Orders with a time in force other than IOC ('3') may rest at the
// exchange: the last OPEN_SLOTS of them are remembered. Kill switch: while
// `killed`, no Enter Order starts (a message already started is finished),
// and, if cancel_on_kill, a Cancel Order goes out for every remembered order,
// oldest first.
//
// Config (0x4xx): 0x4ss symbol of slot ss (8 ASCII bytes, first in [63:56]),
// 0x440 next UserRefNum, 0x441 {cross_type[39:32], ism[31:24], capacity[23:16],
// display[15:8], tif[7:0]}, 0x442 ClOrdID prefix (6 ASCII bytes, first in
// [47:40]), 0x443 cancel_on_kill (bit 0).
// Counters (32 bit, index i): 0 enter orders, 1 cancel orders, 2 remembered
// orders overwritten (more than OPEN_SLOTS resting).
module ouch_encoder #(
    parameter integer NUM_INSTR  = 4,
    parameter integer SLOT_W     = 2,
    parameter integer OPEN_SLOTS = 8
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              cfg_we,
    input  wire [11:0]       cfg_addr,
    input  wire [63:0]       cfg_wdata,
    input  wire              killed,
    input  wire              o_valid,
    output wire              o_pop,
    input  wire [SLOT_W-1:0] o_slot,
    input  wire              o_buy,
    input  wire [31:0]       o_price,
    input  wire [31:0]       o_qty,
    output reg  [63:0]       m_tdata,
    output reg  [7:0]        m_tkeep,
    output reg               m_tvalid,
    input  wire              m_tready,
    output reg               m_tlast,
    output wire [3*32-1:0]   counters
);
    localparam integer RW = (OPEN_SLOTS > 1) ? $clog2(OPEN_SLOTS) : 1;
    localparam [RW:0]  FULL = OPEN_SLOTS[RW:0];

    reg [63:0] symbol [0:NUM_INSTR-1];
    reg [31:0] next_ref;
    reg [7:0]  tif, display, capacity, ism, cross_type;
    reg [47:0] prefix;
    reg        cancel_on_kill;

    // -- remembered resting orders (ring, oldest at head)
    reg [31:0] ring [0:OPEN_SLOTS-1];
    reg [RW-1:0] r_head;
    reg [RW:0]   r_cnt;

    // -- the message going out
    reg [383:0] msg;      // 48 bytes, byte i at [8i +: 8]
    reg [2:0]   bidx;     // next beat to send
    reg [2:0]   nbeats;
    reg [7:0]   lastkeep;
    reg [31:0]  c_enter, c_cancel, c_ovf;
    assign counters = {c_ovf, c_cancel, c_enter};

    function [7:0] hexdig;
        input [3:0] v;
        begin
            hexdig = (v < 4'd10) ? (8'd48 + {4'd0, v}) : (8'd55 + {4'd0, v});
        end
    endfunction

    wire [63:0] sym = symbol[o_slot];
    wire [31:0] rf  = next_ref;
    wire [383:0] enter_msg = {
        8'd0,                                   // 47 pad
        8'd0, 8'd0,                             // 45 appendage length
        hexdig(rf[3:0]), hexdig(rf[7:4]), hexdig(rf[11:8]), hexdig(rf[15:12]),
        hexdig(rf[19:16]), hexdig(rf[23:20]), hexdig(rf[27:24]), hexdig(rf[31:28]),   // 37..44
        prefix[7:0], prefix[15:8], prefix[23:16], prefix[31:24], prefix[39:32], prefix[47:40],  // 31..36
        cross_type, ism, capacity, display, tif,     // 26..30
        o_price[7:0], o_price[15:8], o_price[23:16], o_price[31:24], 32'd0,          // 18..25
        sym[7:0], sym[15:8], sym[23:16], sym[31:24], sym[39:32], sym[47:40], sym[55:48], sym[63:56],  // 10..17
        o_qty[7:0], o_qty[15:8], o_qty[23:16], o_qty[31:24],                         // 6..9
        (o_buy ? "B" : "S"),                    // 5
        rf[7:0], rf[15:8], rf[23:16], rf[31:24],                                     // 1..4
        "O"                                     // 0
    };
    wire [31:0]  cref = ring[r_head];
    wire [383:0] cancel_msg = {
        312'd0,
        32'd0,                                  // 5..8 quantity 0
        cref[7:0], cref[15:8], cref[23:16], cref[31:24],                             // 1..4
        "X"
    };

    wire out_free  = !m_tvalid || m_tready;
    wire more      = (bidx != nbeats);
    wire start_ent = out_free && !more && !killed && o_valid;
    wire start_cxl = out_free && !more && killed && cancel_on_kill && r_cnt != 0;
    wire resting   = (tif != "3");
    assign o_pop = start_ent;

    integer i;
    always @(posedge clk) begin
        if (rst) begin
            next_ref <= 32'd1;
            tif <= "3";
            display <= "Y";
            capacity <= "P";
            ism <= "N";
            cross_type <= "N";
            prefix <= "PARITY";
            cancel_on_kill <= 1'b1;
            for (i = 0; i < NUM_INSTR; i = i + 1)
                symbol[i] <= "        ";
            r_head <= {RW{1'b0}};
            r_cnt <= {(RW+1){1'b0}};
            bidx <= 3'd0;
            nbeats <= 3'd0;
            m_tvalid <= 1'b0;
            m_tlast <= 1'b0;
            c_enter <= 32'd0;
            c_cancel <= 32'd0;
            c_ovf <= 32'd0;
        end else begin
            if (cfg_we && cfg_addr[11:8] == 4'h4) begin
                for (i = 0; i < NUM_INSTR; i = i + 1)
                    if ({24'd0, cfg_addr[7:0]} == i)
                        symbol[i] <= cfg_wdata;
                case (cfg_addr[7:0])
                    8'h40: next_ref <= cfg_wdata[31:0];
                    8'h41: begin
                        tif <= cfg_wdata[7:0];
                        display <= cfg_wdata[15:8];
                        capacity <= cfg_wdata[23:16];
                        ism <= cfg_wdata[31:24];
                        cross_type <= cfg_wdata[39:32];
                    end
                    8'h42: prefix <= cfg_wdata[47:0];
                    8'h43: cancel_on_kill <= cfg_wdata[0];
                    default: ;
                endcase
            end
            if (out_free) begin
                if (more) begin
                    m_tdata <= msg[64*bidx +: 64];
                    m_tkeep <= (bidx == nbeats - 3'd1) ? lastkeep : 8'hFF;
                    m_tlast <= (bidx == nbeats - 3'd1);
                    m_tvalid <= 1'b1;
                    bidx <= bidx + 3'd1;
                end else if (start_ent) begin
                    msg <= enter_msg;
                    m_tdata <= enter_msg[63:0];
                    m_tkeep <= 8'hFF;
                    m_tlast <= 1'b0;
                    m_tvalid <= 1'b1;
                    bidx <= 3'd1;
                    nbeats <= 3'd6;
                    lastkeep <= 8'h7F;
                    next_ref <= next_ref + 32'd1;
                    c_enter <= c_enter + 32'd1;
                    if (resting) begin
                        ring[r_head + r_cnt[RW-1:0]] <= next_ref;
                        if (r_cnt == FULL) begin
                            r_head <= r_head + 1'b1;
                            c_ovf <= c_ovf + 32'd1;
                        end else begin
                            r_cnt <= r_cnt + 1'b1;
                        end
                    end
                end else if (start_cxl) begin
                    msg <= cancel_msg;
                    m_tdata <= cancel_msg[63:0];
                    m_tkeep <= 8'hFF;
                    m_tlast <= 1'b0;
                    m_tvalid <= 1'b1;
                    bidx <= 3'd1;
                    nbeats <= 3'd2;
                    lastkeep <= 8'h01;
                    r_head <= r_head + 1'b1;
                    r_cnt <= r_cnt - 1'b1;
                    c_cancel <= c_cancel + 32'd1;
                end else begin
                    m_tvalid <= 1'b0;
                    m_tlast <= 1'b0;
                end
            end
        end
    end
endmodule
